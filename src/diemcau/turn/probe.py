"""A small TURN client that checks a TURN server from the outside, the way a browser uses it.

What it is for: ``diemcau doctor`` asks it whether coturn answers an allocation with a
fresh credential (over UDP and TLS), and the integration tests use it to prove what the
relay refuses (peers in special-purpose ranges, TCP relays, bad credentials) and that it
does carry a datagram to Janus's media address and back. It is not a media path: browsers
speak TURN themselves.

The protocol, from the RFCs (STUN encoding from aioice's ``stun`` module):

* RFC 8656 (TURN, which replaced RFC 5766): Allocate with the long-term credential
  mechanism of RFC 8489 §9.2 — a first request without credentials is answered 401 with
  REALM and NONCE, the retry carries USERNAME, REALM, NONCE and MESSAGE-INTEGRITY (key
  ``MD5(username ":" realm ":" password)``); 438 Stale Nonce is retried with the new nonce.
  CreatePermission, Send/Data indications, ChannelBind and ChannelData, Refresh (lifetime
  0 frees the allocation).
* Over TCP and TLS, STUN messages and ChannelData follow each other on the stream with no
  extra framing (RFC 8656 §7.1: the length is in each header; ChannelData is padded to a
  multiple of four bytes there, §12.5). RFC 4571's 2-byte length prefix is NOT used.
* RFC 6062 (TURN for TCP relays): Allocate with REQUESTED-TRANSPORT TCP and Connect to a
  peer. Our coturn runs with ``no-tcp-relay``, so both are expected to be refused.
* RFC 6156: an IPv6 XOR-PEER-ADDRESS (``::1``, ``::ffff:127.0.0.1``) is sent as such; what
  the server answers (403 Forbidden IP, or 443 Peer Address Family Mismatch) is reported.

Every refusal is reported as the server's error code and reason (``Refusal``); only not
reaching the server at all (nothing listens, timeout, TLS failure, a garbled reply) raises
``ProbeError``, whose message names the server and what failed.
"""

# Each request has a deadline of its own (UDP retransmits until it), so methods take one.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ipaddress
import os
import ssl
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal

from aioice import stun

Transport = Literal["udp", "tcp", "tls"]
TRANSPORTS: tuple[Transport, ...] = ("udp", "tcp", "tls")

# REQUESTED-TRANSPORT carries an IP protocol number in its first byte (RFC 8656 §18.7).
REQUESTED_UDP = 17 << 24
REQUESTED_TCP = 6 << 24

# Not in aioice's tables: RFC 6062 §6.1-6.2 (TCP relays), RFC 8656 §18.8 (address family).
METHOD_CONNECT = 0x000A
ATTR_CONNECTION_ID = 0x002A
ATTR_REQUESTED_ADDRESS_FAMILY = 0x0017
FAMILY_IPV6 = 0x02

# ChannelData: channel numbers 0x4000-0x4FFF (RFC 8656 §12); the first two bits are 01.
FIRST_CHANNEL = 0x4000

# STUN over UDP: retransmit at 0.5 s, doubling (RFC 8489 §6.2.1), until the deadline.
UDP_RTO = 0.5

Peer = tuple[str, int]


class ProbeError(Exception):
    """The server could not be talked to at all; the message names it and what failed."""


@dataclass(frozen=True)
class Refusal:
    """A TURN error response (RFC 8656 §19: 401, 403 Forbidden IP, 437, 442, 486, …)."""

    code: int
    reason: str

    def __str__(self) -> str:
        return f"{self.code} {self.reason}".strip()


@dataclass(frozen=True)
class Allocation:
    """The answer to Allocate: the relayed address, or the refusal."""

    relayed: Peer | None = None
    mapped: Peer | None = None  # the client's address as the server sees it
    lifetime: int = 0
    refusal: Refusal | None = None

    @property
    def granted(self) -> bool:
        return self.refusal is None and self.relayed is not None


@dataclass(frozen=True)
class Outcome:
    """What the server said to one request about one peer (a permission, a TCP Connect)."""

    peer: Peer
    refusal: Refusal | None = None

    @property
    def granted(self) -> bool:
        return self.refusal is None

    def __str__(self) -> str:
        verdict = "granted" if self.refusal is None else f"refused ({self.refusal})"
        return f"{format_peer(self.peer)}: {verdict}"


@dataclass(frozen=True)
class ProbeReport:
    """One probe's findings, in the order they were made (see ``probe``)."""

    server: str  # "udp 10.77.0.1:3478"
    allocation: Allocation
    permissions: tuple[Outcome, ...] = ()
    echoed: bool | None = None  # None: no echo peer given
    tcp_connect: Outcome | None = None
    freed: bool = False


def format_peer(peer: Peer) -> str:
    host, port = peer
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def integrity_key(username: str, realm: str, password: str) -> bytes:
    """The long-term credential's key (RFC 8489 §9.2.2). MD5 is what the RFC prescribes
    for MESSAGE-INTEGRITY; it is not used here for anything else."""
    text = f"{username}:{realm}:{password}".encode()
    return hashlib.md5(text, usedforsecurity=False).digest()


def as_peer(value: str | Peer, default_port: int = 9) -> Peer:
    """A peer from "ip", ("ip", port); the port matters only to relaying and Connect
    (permissions are per address, RFC 8656 §9)."""
    host, port = (value, default_port) if isinstance(value, str) else value
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"a peer must be an IP address (got {host!r})") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"a peer's port must be 0-65535 (got {port})")
    return (_address_text(address), port)


def _address_text(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    # Python before 3.13 writes ::ffff:127.0.0.1 as ::ffff:7f00:1; keep the form people
    # (and coturn's log) use for IPv4-mapped addresses.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return f"::ffff:{address.ipv4_mapped}"
    return str(address)


# --- wire format -------------------------------------------------------------------------


@dataclass
class _Reply:
    """A STUN message as received. ``message`` is aioice's parse when it knows the method
    (it does not know RFC 6062's Connect); ``attributes`` holds what was read either way."""

    method: int
    cls: int
    transaction_id: bytes
    attributes: dict[str, Any]
    message: stun.Message | None


def _decode_stun(data: bytes) -> _Reply:
    try:
        message = stun.parse_message(data)
    except ValueError:
        return _decode_unknown_method(data)
    return _Reply(
        method=int(message.message_method),
        cls=int(message.message_class),
        transaction_id=message.transaction_id,
        attributes=message.attributes,
        message=message,
    )


def _decode_unknown_method(data: bytes) -> _Reply:
    """Header and the attributes a report needs, for methods aioice does not know."""
    if len(data) < stun.HEADER_LENGTH:
        raise ValueError(f"a STUN message is at least 20 bytes (got {len(data)})")
    kind, length, cookie, transaction_id = struct.unpack("!HHI12s", data[: stun.HEADER_LENGTH])
    if cookie != stun.COOKIE or len(data) != stun.HEADER_LENGTH + length:
        raise ValueError("not a STUN message (bad magic cookie or length)")
    attributes: dict[str, Any] = {}
    pos = stun.HEADER_LENGTH
    while pos + 4 <= len(data):
        attr_type, attr_len = struct.unpack("!HH", data[pos : pos + 4])
        value = data[pos + 4 : pos + 4 + attr_len]
        if attr_type == 0x0009:
            attributes["ERROR-CODE"] = stun.unpack_error_code(value)
        elif attr_type == ATTR_CONNECTION_ID and attr_len == 4:
            attributes["CONNECTION-ID"] = struct.unpack("!I", value)[0]
        pos += 4 + attr_len + stun.padding_length(attr_len)
    return _Reply(
        method=kind & 0x3EEF,
        cls=kind & 0x0110,
        transaction_id=transaction_id,
        attributes=attributes,
        message=None,
    )


def _encode_raw(
    method: int, transaction_id: bytes, attributes: Sequence[tuple[int, bytes]], key: bytes
) -> bytes:
    """A request aioice's Message cannot spell: an unknown method (RFC 6062's Connect) or
    attribute (RFC 8656's REQUESTED-ADDRESS-FAMILY). Signed like ``add_message_integrity``
    (aioice's message_integrity() and message_fingerprint() set the header's length)."""
    body = b""
    for attr_type, value in attributes:
        body += struct.pack("!HH", attr_type, len(value)) + value
        body += bytes(stun.padding_length(len(value)))
    data = struct.pack("!HHI12s", method, len(body), stun.COOKIE, transaction_id) + body
    if key:
        data += struct.pack("!HH", 0x0008, 20) + stun.message_integrity(data, key)
    data += struct.pack("!HHI", 0x8028, 4, stun.message_fingerprint(data))
    return data[:2] + struct.pack("!H", len(data) - stun.HEADER_LENGTH) + data[4:]


def _pack_known(name: str, value: Any, transaction_id: bytes) -> tuple[int, bytes]:
    """One attribute aioice knows, packed by aioice (XOR addresses with the transaction)."""
    attr_type, _, pack, _ = stun.ATTRIBUTES_BY_NAME[name]
    if pack is stun.pack_xor_address:
        return attr_type, stun.pack_xor_address(value, transaction_id)
    return attr_type, pack(value)


def _is_channel_data(data: bytes) -> bool:
    return len(data) >= 4 and data[0] >> 6 == 1


# --- transports ---------------------------------------------------------------------------


class _Link:
    """Carries whole STUN messages and ChannelData to the server and back."""

    reliable = True

    def __init__(self, client: TurnClient) -> None:
        self.client = client

    def send(self, data: bytes) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError


class _UdpLink(_Link, asyncio.DatagramProtocol):
    reliable = False

    def __init__(self, client: TurnClient) -> None:
        super().__init__(client)
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.DatagramTransport)
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        self.client._received(data)

    def error_received(self, exc: Exception) -> None:
        # On a connected UDP socket an ICMP "port unreachable" comes back as
        # ConnectionRefusedError: nothing listens there.
        self.client._failed(ProbeError(f"{self.client.server}: {_os_error(exc)}"))

    def send(self, data: bytes) -> None:
        if self.transport is not None:
            self.transport.sendto(data)

    async def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class _StreamLink(_Link):
    def __init__(
        self, client: TurnClient, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        super().__init__(client)
        self.reader = reader
        self.writer = writer
        self.task = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        try:
            while True:
                head = await self.reader.readexactly(4)
                length = struct.unpack("!H", head[2:4])[0]
                if head[0] >> 6 == 0:  # STUN: 20-byte header, `length` bytes of attributes
                    rest = stun.HEADER_LENGTH - 4 + length
                elif head[0] >> 6 == 1:  # ChannelData, padded to 4 bytes on a stream
                    rest = length + stun.padding_length(length)
                else:
                    raise ProbeError(
                        f"{self.client.server}: not a STUN or ChannelData frame "
                        f"(first byte {head[0]:#04x})"
                    )
                self.client._received(head + await self.reader.readexactly(rest))
        except asyncio.IncompleteReadError:
            self.client._failed(
                ProbeError(f"{self.client.server}: the server closed the connection")
            )
        except (OSError, ssl.SSLError) as exc:
            self.client._failed(ProbeError(f"{self.client.server}: {_os_error(exc)}"))
        except ProbeError as exc:
            self.client._failed(exc)

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    async def close(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self.task
        self.writer.close()
        with contextlib.suppress(OSError, ssl.SSLError, asyncio.TimeoutError):
            await asyncio.wait_for(self.writer.wait_closed(), 1.0)


def _os_error(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (nothing listens there)"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate not accepted ({exc.verify_message})"
    return str(exc) or type(exc).__name__


# --- the client ---------------------------------------------------------------------------


@dataclass
class _Credential:
    username: str
    password: str
    realm: str = ""
    nonce: bytes = b""
    key: bytes = b""


@dataclass
class _State:
    pending: dict[bytes, asyncio.Future[_Reply]] = field(default_factory=dict)
    inbox: asyncio.Queue[tuple[Peer, bytes]] = field(default_factory=asyncio.Queue)
    channels: dict[Peer, int] = field(default_factory=dict)
    error: ProbeError | None = None


class TurnClient:
    """One control connection to a TURN server and at most one allocation on it.

    Use as ``async with TurnClient(host, 3478, "udp") as client:``; then ``allocate``, and
    on the allocation ``permit``, ``relay``, ``connect_tcp``; leaving the block frees the
    allocation (Refresh, lifetime 0) and closes the connection.
    """

    def __init__(
        self,
        host: str,
        port: int,
        transport: Transport = "udp",
        *,
        ssl_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
        timeout: float = 5.0,
    ) -> None:
        if transport not in TRANSPORTS:
            raise ValueError(
                f"transport must be one of {', '.join(TRANSPORTS)} (got {transport!r})"
            )
        if transport == "tls" and ssl_context is None:
            raise ValueError("TURN over TLS needs an ssl_context (which CA to trust)")
        self.host = host
        self.port = port
        self.transport = transport
        self.ssl_context = ssl_context
        self.server_hostname = server_hostname
        self.timeout = timeout
        self.allocation: Allocation | None = None
        self._link: _Link | None = None
        self._credential: _Credential | None = None
        self._state = _State()

    @property
    def server(self) -> str:
        return f"{self.transport} {format_peer((self.host, self.port))}"

    async def __aenter__(self) -> TurnClient:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            if self.transport == "udp":
                _, link = await loop.create_datagram_endpoint(
                    lambda: _UdpLink(self), remote_addr=(self.host, self.port)
                )
                self._link = link
                return
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(
                    self.host,
                    self.port,
                    ssl=self.ssl_context if self.transport == "tls" else None,
                    server_hostname=(self.server_hostname or self.host)
                    if self.transport == "tls"
                    else None,
                ),
                self.timeout,
            )
        except TimeoutError:
            raise ProbeError(f"{self.server}: no connection within {self.timeout:g} s") from None
        except (OSError, ssl.SSLError) as exc:
            raise ProbeError(f"{self.server}: {_os_error(exc)}") from exc
        self._link = _StreamLink(self, reader, writer)

    async def close(self) -> None:
        if self._link is None:
            return
        if self.allocation is not None and self.allocation.granted:
            with contextlib.suppress(ProbeError):
                await self.refresh(0)
        link, self._link = self._link, None
        await link.close()

    # --- TURN requests ------------------------------------------------------------------

    async def allocate(
        self,
        username: str,
        password: str,
        *,
        relay: Literal["udp", "tcp"] = "udp",
        family: Literal["ipv4", "ipv6"] = "ipv4",
    ) -> Allocation:
        """Allocate a relayed address (RFC 8656 §7; ``relay="tcp"``: RFC 6062 §5.1;
        ``family="ipv6"``: an IPv6 relayed address, REQUESTED-ADDRESS-FAMILY, §18.8)."""
        self._credential = _Credential(username, password)
        requested = REQUESTED_UDP if relay == "udp" else REQUESTED_TCP
        extra = [(ATTR_REQUESTED_ADDRESS_FAMILY, bytes([FAMILY_IPV6, 0, 0, 0]))]
        reply = await self._request(
            stun.Method.ALLOCATE,
            {"REQUESTED-TRANSPORT": requested, "LIFETIME": 600},
            extra=extra if family == "ipv6" else (),
        )
        refusal = _refusal(reply)
        if refusal is not None:
            self.allocation = Allocation(refusal=refusal)
        else:
            self.allocation = Allocation(
                relayed=reply.attributes.get("XOR-RELAYED-ADDRESS"),
                mapped=reply.attributes.get("XOR-MAPPED-ADDRESS"),
                lifetime=int(reply.attributes.get("LIFETIME", 0)),
            )
        return self.allocation

    async def permit(self, peer: str | Peer) -> Outcome:
        """CreatePermission for one peer address (RFC 8656 §9): one request per peer, so
        each gets its own answer (one refused peer refuses a whole request)."""
        address = as_peer(peer)
        reply = await self._request(stun.Method.CREATE_PERMISSION, {"XOR-PEER-ADDRESS": address})
        return Outcome(address, _refusal(reply))

    async def permit_all(self, peers: Iterable[str | Peer]) -> tuple[Outcome, ...]:
        return tuple([await self.permit(peer) for peer in peers])

    async def channel_bind(self, peer: Peer) -> Outcome:
        """Bind the next free channel number to ``peer`` (RFC 8656 §11)."""
        peer = as_peer(peer)
        if peer in self._state.channels:
            return Outcome(peer)
        number = FIRST_CHANNEL + len(self._state.channels)
        reply = await self._request(
            stun.Method.CHANNEL_BIND, {"CHANNEL-NUMBER": number, "XOR-PEER-ADDRESS": peer}
        )
        refusal = _refusal(reply)
        if refusal is None:
            self._state.channels[peer] = number
        return Outcome(peer, refusal)

    async def relay(
        self, peer: Peer, payload: bytes, *, channel: bool = False, timeout: float | None = None
    ) -> bytes | None:
        """Send ``payload`` to ``peer`` through the relay — a Send indication, or ChannelData
        on a bound channel — and return the first data that comes back from that peer (an
        echo server answers with the same bytes), or None if nothing does in time.
        Needs a permission for the peer's address (``permit``) first."""
        peer = as_peer(peer)
        if channel:
            bound = await self.channel_bind(peer)
            if not bound.granted:
                return None
            number = self._state.channels[peer]
            frame = struct.pack("!HH", number, len(payload)) + payload
            if self._link is not None and self._link.reliable:
                frame += bytes(stun.padding_length(len(payload)))
        else:
            message = stun.Message(
                stun.Method.SEND,
                stun.Class.INDICATION,
                attributes={"XOR-PEER-ADDRESS": peer, "DATA": payload},
            )
            message.add_fingerprint()
            frame = bytes(message)
        while not self._state.inbox.empty():
            self._state.inbox.get_nowait()
        wait = self.timeout if timeout is None else timeout
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        # Indications are not retransmitted by TURN itself: resend a lost datagram a few
        # times over UDP; over a stream once is enough.
        tries = 1 if self._link is not None and self._link.reliable else 3
        for attempt in range(tries):
            self._send(frame)
            until = deadline if attempt == tries - 1 else min(deadline, loop.time() + wait / tries)
            while (left := until - loop.time()) > 0:
                try:
                    source, data = await asyncio.wait_for(self._state.inbox.get(), left)
                except TimeoutError:
                    break
                if source == peer:
                    return data
            self._raise_if_failed()
        return None

    async def connect_tcp(self, peer: str | Peer) -> Outcome:
        """RFC 6062 Connect: ask the server to open a TCP connection to ``peer`` on a TCP
        allocation. Only the server's answer is reported (no ConnectionBind follows)."""
        address = as_peer(peer)
        reply = await self._request(METHOD_CONNECT, {"XOR-PEER-ADDRESS": address})
        return Outcome(address, _refusal(reply))

    async def refresh(self, lifetime: int) -> Refusal | None:
        """Refresh the allocation; lifetime 0 frees it at once (RFC 8656 §8)."""
        reply = await self._request(stun.Method.REFRESH, {"LIFETIME": lifetime})
        refusal = _refusal(reply)
        if refusal is None and lifetime == 0:
            self.allocation = None
        return refusal

    # --- transactions -------------------------------------------------------------------

    async def _request(
        self,
        method: int,
        attributes: dict[str, Any],
        *,
        extra: Sequence[tuple[int, bytes]] = (),
    ) -> _Reply:
        """One request with the long-term credential; a 401 with a realm and nonce (the
        first answer, RFC 8489 §9.2.3) or a 438 Stale Nonce is retried once with them.
        ``extra``: attributes aioice does not know, as (type, value)."""
        credential = self._require_credential()
        reply = await self._send_request(method, attributes, extra, credential)
        if _error_code(reply) in (401, 438) and "NONCE" in reply.attributes:
            nonce: bytes = reply.attributes["NONCE"]
            # The same nonce again means the credential itself was refused: report that.
            if nonce != credential.nonce or not credential.key:
                credential.nonce = nonce
                credential.realm = reply.attributes.get("REALM", credential.realm)
                credential.key = integrity_key(
                    credential.username, credential.realm, credential.password
                )
                reply = await self._send_request(method, attributes, extra, credential)
        return reply

    async def _send_request(
        self,
        method: int,
        attributes: dict[str, Any],
        extra: Sequence[tuple[int, bytes]],
        credential: _Credential,
    ) -> _Reply:
        auth: dict[str, Any] = {}
        if credential.key:
            auth = {
                "USERNAME": credential.username,
                "REALM": credential.realm,
                "NONCE": credential.nonce,
            }
        if isinstance(method, stun.Method) and not extra:
            message = stun.Message(method, stun.Class.REQUEST, attributes={**attributes, **auth})
            if credential.key:
                message.add_message_integrity(credential.key)
            else:
                message.add_fingerprint()
            transaction_id, data = message.transaction_id, bytes(message)
        else:
            transaction_id = os.urandom(12)
            packed = [
                _pack_known(name, value, transaction_id)
                for name, value in {**attributes, **auth}.items()
            ]
            data = _encode_raw(method, transaction_id, [*packed, *extra], credential.key)
        reply = await self._transact(transaction_id, data)
        # A success must be signed with our key (RFC 8489 §9.2.5): else it is not the
        # server we hold a credential for.
        if (
            credential.key
            and reply.cls == stun.Class.RESPONSE
            and reply.message is not None
            and not reply.message.check_message_integrity(credential.key)
        ):
            raise ProbeError(f"{self.server}: a reply not signed with our credential")
        return reply

    async def _transact(self, transaction_id: bytes, data: bytes) -> _Reply:
        self._raise_if_failed()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[_Reply] = loop.create_future()
        self._state.pending[transaction_id] = future
        deadline = loop.time() + self.timeout
        rto = UDP_RTO
        try:
            while True:
                self._send(data)
                left = deadline - loop.time()
                wait = left if self._link is None or self._link.reliable else min(rto, left)
                try:
                    return await asyncio.wait_for(asyncio.shield(future), max(wait, 0))
                except TimeoutError:
                    if loop.time() >= deadline:
                        raise ProbeError(
                            f"{self.server}: no answer within {self.timeout:g} s"
                        ) from None
                    rto *= 2
        finally:
            self._state.pending.pop(transaction_id, None)
            if not future.done():
                future.cancel()

    def _send(self, data: bytes) -> None:
        self._raise_if_failed()
        if self._link is None:
            raise ProbeError(f"{self.server}: not connected (call open() first)")
        self._link.send(data)

    def _require_credential(self) -> _Credential:
        if self._credential is None:
            raise ProbeError(f"{self.server}: allocate() first (it takes the credential)")
        return self._credential

    def _raise_if_failed(self) -> None:
        if self._state.error is not None:
            raise self._state.error

    # --- called by the links ------------------------------------------------------------

    def _received(self, data: bytes) -> None:
        if _is_channel_data(data):
            number, length = struct.unpack("!HH", data[:4])
            for bound_peer, bound in self._state.channels.items():
                if bound == number:
                    self._state.inbox.put_nowait((bound_peer, data[4 : 4 + length]))
            return
        try:
            reply = _decode_stun(data)
        except ValueError:
            return  # not for us: a stray datagram (RFC 8489 §6.3 says drop it)
        if reply.cls == stun.Class.INDICATION and reply.method == stun.Method.DATA:
            peer = reply.attributes.get("XOR-PEER-ADDRESS")
            payload = reply.attributes.get("DATA")
            if peer is not None and payload is not None:
                self._state.inbox.put_nowait(((str(peer[0]), int(peer[1])), payload))
            return
        future = self._state.pending.get(reply.transaction_id)
        if future is not None and not future.done():
            future.set_result(reply)

    def _failed(self, error: ProbeError) -> None:
        if self._state.error is None:
            self._state.error = error
        for future in self._state.pending.values():
            if not future.done():
                future.set_exception(error)


def _error_code(reply: _Reply) -> int | None:
    error = reply.attributes.get("ERROR-CODE")
    return int(error[0]) if error is not None else None


def _refusal(reply: _Reply) -> Refusal | None:
    if reply.cls == stun.Class.RESPONSE:
        return None
    code, reason = reply.attributes.get("ERROR-CODE", (0, "error response without ERROR-CODE"))
    # coturn counts its padding into some reasons' length.
    return Refusal(int(code), str(reason).rstrip("\x00").strip())


# --- one probe, start to end --------------------------------------------------------------


async def probe(
    host: str,
    port: int,
    transport: Transport,
    username: str,
    password: str,
    *,
    ssl_context: ssl.SSLContext | None = None,
    server_hostname: str | None = None,
    peers: Iterable[str | Peer] = (),
    echo: Peer | None = None,
    tcp_connect: str | Peer | None = None,
    timeout: float = 5.0,
) -> ProbeReport:
    """Allocate with the credential; ask a permission for each of ``peers``; if ``echo``
    is given, permit it and check that a datagram sent through the relay (a Send
    indication, then a bound channel) comes back from it; if ``tcp_connect`` is given, try
    an RFC 6062 TCP allocation and Connect to it on a second connection (TCP or TLS only);
    free the allocation. Raises ProbeError only when the server cannot be talked to."""
    client = TurnClient(
        host,
        port,
        transport,
        ssl_context=ssl_context,
        server_hostname=server_hostname,
        timeout=timeout,
    )
    async with client:
        allocation = await client.allocate(username, password)
        if not allocation.granted:
            return ProbeReport(client.server, allocation)
        permissions = await client.permit_all(peers)
        echoed: bool | None = None
        if echo is not None:
            echoed = await _echoes(client, as_peer(echo))
        connect = None
        if tcp_connect is not None:
            connect = await _tcp_connect(client, username, password, as_peer(tcp_connect))
        freed = await client.refresh(0) is None
    return ProbeReport(client.server, allocation, permissions, echoed, connect, freed)


async def _echoes(client: TurnClient, peer: Peer) -> bool:
    if not (await client.permit(peer)).granted:
        return False
    payload = os.urandom(16)
    if await client.relay(peer, payload) != payload:
        return False
    payload = os.urandom(16)
    return await client.relay(peer, payload, channel=True) == payload


async def _tcp_connect(client: TurnClient, username: str, password: str, peer: Peer) -> Outcome:
    """RFC 6062 needs a TCP allocation on a TCP or TLS control connection of its own."""
    transport: Transport = "tcp" if client.transport == "udp" else client.transport
    control = TurnClient(
        client.host,
        client.port,
        transport,
        ssl_context=client.ssl_context,
        server_hostname=client.server_hostname,
        timeout=client.timeout,
    )
    async with control:
        allocation = await control.allocate(username, password, relay="tcp")
        if allocation.refusal is not None:
            return Outcome(peer, allocation.refusal)
        return await control.connect_tcp(peer)


__all__ = [
    "TRANSPORTS",
    "Allocation",
    "Outcome",
    "ProbeError",
    "ProbeReport",
    "Refusal",
    "Transport",
    "TurnClient",
    "format_peer",
    "integrity_key",
    "probe",
]
