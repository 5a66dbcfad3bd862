"""How apps above `meetings` take part in editing a meeting, without `meetings` importing
them (apps import only downward: docs/architecture.md).

`live` registers `live.services.meeting_edited` when it starts (live/apps.py): a context
manager around the edit, which tells the pages that follow a live meeting what changed;
and `live.revoke.link_revoked`, which closes what a revoked link still has open.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from diemcau.meetings.models import Invitation

EditHook = Callable[[int | None], AbstractContextManager[None]]
RevokeHook = Callable[["Invitation", str], None]

_edit_hooks: list[EditHook] = []
_revoke_hooks: list[RevokeHook] = []


def on_edit(hook: EditHook) -> None:
    """Run `hook(meeting_id)` around every edit of a meeting (once per hook)."""
    if hook not in _edit_hooks:
        _edit_hooks.append(hook)


@contextmanager
def editing(meeting_id: int | None) -> Iterator[None]:
    """meetings.services edits a meeting inside this block (None: a new meeting)."""
    with ExitStack() as stack:
        for hook in _edit_hooks:
            stack.enter_context(hook(meeting_id))
        yield


def on_revoke(hook: RevokeHook) -> None:
    """Run `hook(invitation, old_nonce)` after an invitation's links are replaced."""
    if hook not in _revoke_hooks:
        _revoke_hooks.append(hook)


def revoked(invitation: Invitation, old_nonce: str) -> None:
    for hook in _revoke_hooks:
        hook(invitation, old_nonce)
