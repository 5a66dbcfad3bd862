"""How apps above `meetings` take part in editing a meeting, without `meetings` importing
them (apps import only downward: docs/architecture.md).

`live` registers `live.services.meeting_edited` when it starts (live/apps.py): a context
manager around the edit, which tells the pages that follow a live meeting what changed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager

EditHook = Callable[[int | None], AbstractContextManager[None]]

_edit_hooks: list[EditHook] = []


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
