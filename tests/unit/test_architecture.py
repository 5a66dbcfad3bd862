"""tools/check_architecture.py, which `make lint` runs: it finds what it is meant to find."""

from __future__ import annotations

import ast

from tools import check_architecture as arch


def test_the_tree_today_is_on_the_map_and_imports_downward() -> None:
    assert arch.check() == []


def test_an_import_is_seen_but_not_one_for_annotations_only() -> None:
    tree = ast.parse(
        "from diemcau.live import services\n"
        "import diemcau.sfu.rooms\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from diemcau.reports import selectors\n"
    )
    assert arch.imported(tree) == [(1, "live"), (2, "sfu")]


def test_layers_put_meetings_below_live_and_wiring_on_top() -> None:
    meetings, live, urls = (arch.layer_of(n) for n in ("meetings", "live", "urls"))
    assert meetings is not None and live is not None and urls is not None
    assert meetings < live < urls
