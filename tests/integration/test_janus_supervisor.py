"""The supervisor keeps Janus running, and the client follows it to a new session.

Docs: docs/janus.md. This test runs its own Janus (own folder and ports) so that killing it
does not disturb the session-wide one the other tests share.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable

import pytest

from diemcau.media.client import JanusClient
from diemcau.media.errors import JanusConnectionError
from diemcau.media.janusconfig import JanusConfig
from diemcau.media.supervisor import JanusSupervisor
from diemcau.media.tokens import sign_token
from diemcau.media.videoroom import PLUGIN

pytestmark = [pytest.mark.janus, pytest.mark.asyncio(loop_scope="session")]


async def test_killed_janus_is_restarted_and_client_reconnects(
    make_janus_config: Callable[[int], JanusConfig],
) -> None:
    config = make_janus_config(43000)
    supervisor = JanusSupervisor(config, backoff_initial=0.1)
    await supervisor.start()
    client = JanusClient(
        config.ws_url, token=lambda: sign_token(config.token_auth_secret), backoff_initial=0.1
    )
    try:
        await client.connect()
        handle = await client.attach(PLUGIN)
        old_session, old_pid, generation = client.session_id, supervisor.pid, client.generation
        told: list[int | None] = []
        client.add_reconnect_listener(lambda c: told.append(c.session_id))

        # A transaction in flight when Janus dies must fail at once, not hang to its timeout.
        # Janus is frozen first (SIGSTOP) so that the request surely gets no reply.
        assert old_pid is not None
        os.kill(old_pid, signal.SIGSTOP)
        in_flight = asyncio.create_task(handle.message({"request": "list"}, timeout=30))
        await asyncio.sleep(0.1)  # let the request reach the socket; no event marks that
        os.kill(old_pid, signal.SIGKILL)
        with pytest.raises(JanusConnectionError):
            async with asyncio.timeout(5):
                await in_flight

        await supervisor.wait_restarted(after_restarts=0, timeout=30)
        assert supervisor.pid != old_pid
        await client.wait_reconnected(generation, timeout=30)
        assert client.session_id != old_session
        assert told == [client.session_id]

        with pytest.raises(JanusConnectionError):
            await handle.message({"request": "list"})  # the old handle died with its session
        fresh = await client.attach(PLUGIN)
        reply = await fresh.message({"request": "list"})
        assert reply.data["videoroom"] == "success"
    finally:
        await client.close()
        await supervisor.stop()
    assert not supervisor.running
