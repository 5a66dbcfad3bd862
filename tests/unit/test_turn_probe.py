"""diemcau.turn.probe's wire format, without a server (the relay itself: the integration
test tests/integration/test_turn_relay.py with a real coturn)."""

from __future__ import annotations

import struct

import pytest
from aioice import stun

from diemcau.turn import probe
from diemcau.turn.probe import Refusal, as_peer, format_peer, integrity_key

TID = bytes(range(12))
KEY = integrity_key("1700000000:site-a", "example.org", "password")


def test_raw_encoding_matches_aioices_for_a_method_it_knows() -> None:
    attributes = {"REQUESTED-TRANSPORT": probe.REQUESTED_UDP, "USERNAME": "1700000000:site-a"}
    message = stun.Message(
        stun.Method.ALLOCATE, stun.Class.REQUEST, transaction_id=TID, attributes=dict(attributes)
    )
    message.add_message_integrity(KEY)
    packed = [probe._pack_known(name, value, TID) for name, value in attributes.items()]
    assert probe._encode_raw(stun.Method.ALLOCATE, TID, packed, KEY) == bytes(message)


def test_connect_request_is_signed_and_carries_the_xor_peer_address() -> None:
    peer = ("10.77.0.1", 8000)
    data = probe._encode_raw(
        probe.METHOD_CONNECT, TID, [probe._pack_known("XOR-PEER-ADDRESS", peer, TID)], KEY
    )
    kind, length = struct.unpack("!HH", data[:4])
    assert (kind, length) == (0x000A, len(data) - 20)
    # XOR-PEER-ADDRESS, MESSAGE-INTEGRITY, FINGERPRINT.
    assert struct.unpack("!HH", data[20:24]) == (0x0012, 8)
    assert stun.unpack_xor_address(data[24:32], TID) == peer
    assert struct.unpack("!HH", data[32:36]) == (0x0008, 20)
    assert data[36:56] == stun.message_integrity(data[:32], KEY)
    assert struct.unpack("!HHI", data[56:]) == (0x8028, 4, stun.message_fingerprint(data[:56]))


def test_an_error_answer_to_connect_is_read_though_aioice_does_not_know_the_method() -> None:
    error = struct.pack("!HBB", 0, 4, 47) + b"Connection Timeout or Failure"
    body = struct.pack("!HH", 0x0009, len(error)) + error + bytes(stun.padding_length(len(error)))
    data = struct.pack("!HHI12s", 0x011A, len(body), stun.COOKIE, TID) + body
    reply = probe._decode_stun(data)
    assert (reply.method, reply.cls, reply.transaction_id) == (0x000A, stun.Class.ERROR, TID)
    assert probe._refusal(reply) == Refusal(447, "Connection Timeout or Failure")


def test_refusal_reason_loses_coturns_padding() -> None:
    message = stun.Message(stun.Method.ALLOCATE, stun.Class.ERROR, transaction_id=TID)
    message.attributes["ERROR-CODE"] = (442, "TCP Transport is not allowed\x00\x00")
    reply = probe._decode_stun(bytes(message))
    assert str(probe._refusal(reply)) == "442 TCP Transport is not allowed"


def test_peers_are_addresses_and_ipv4_mapped_ones_keep_their_dotted_form() -> None:
    assert as_peer("::ffff:127.0.0.1") == ("::ffff:127.0.0.1", 9)
    assert as_peer(("0:0:0:0:0:0:0:1", 8000)) == ("::1", 8000)
    assert format_peer(("::1", 8000)) == "[::1]:8000"
    with pytest.raises(ValueError, match="'localhost'"):
        as_peer("localhost")


def test_tls_needs_a_context_and_transports_are_named() -> None:
    with pytest.raises(ValueError, match="ssl_context"):
        probe.TurnClient("10.0.0.1", 5349, "tls")
    with pytest.raises(ValueError, match="'dtls'"):
        probe.TurnClient("10.0.0.1", 5349, "dtls")  # type: ignore[arg-type]
