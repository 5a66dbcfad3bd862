"""The Janus gate's one rule (sfu/gate.py): a publisher's `bitrate` is at most the room's cap;
every other frame passes as it was written. Through a real Janus: test_janus_gate.py."""

from __future__ import annotations

import json

import pytest

from diemcau.sfu.gate import NotAnObject, capped

CAP = 1_536_000


def message(request: str, **body: object) -> str:
    return json.dumps(
        {"janus": "message", "transaction": "t", "body": {"request": request, **body}}
    )


@pytest.mark.parametrize("request_name", ["configure", "joinandconfigure", "publish"])
@pytest.mark.parametrize("asked", [50_000_000, CAP + 1, 1.5e9, "50000000", True, None, -1])
def test_a_bitrate_above_the_cap_or_not_a_whole_number_gets_the_cap(
    request_name: str, asked: object
) -> None:
    forwarded = json.loads(capped(message(request_name, bitrate=asked, audio=True), CAP))
    assert forwarded["body"] == {"request": request_name, "bitrate": CAP, "audio": True}
    assert forwarded["janus"] == "message" and forwarded["transaction"] == "t"


@pytest.mark.parametrize("asked", [0, 128_000, CAP])
def test_a_bitrate_within_the_cap_passes_as_written(asked: int) -> None:
    text = message("configure", bitrate=asked)
    assert capped(text, CAP) is text


@pytest.mark.parametrize(
    "text",
    [
        message("configure", audio=False),  # no bitrate named
        message("join", ptype="publisher", room=1, bitrate=50_000_000),  # not a bitrate request
        json.dumps({"janus": "keepalive", "session_id": 1, "transaction": "k"}),
        json.dumps({"janus": "trickle", "candidate": {"completed": True}, "transaction": "c"}),
        json.dumps({"janus": "message", "body": "configure", "transaction": "b"}),
    ],
)
def test_everything_else_passes_untouched(text: str) -> None:
    assert capped(text, CAP) is text


@pytest.mark.parametrize("text", ["", "{", "[1, 2]", '"configure"', "null", "[" * 100_000])
def test_a_frame_that_is_not_a_json_object_is_refused(text: str) -> None:
    with pytest.raises(NotAnObject):
        capped(text, CAP)
