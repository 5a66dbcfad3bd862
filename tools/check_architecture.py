"""`make lint`'s architecture check: every module is on the map, and imports go downward.

1. Every module of `src/diemcau/` (migrations, templates and static files aside) is named
   in `docs/architecture.md`, by its path inside the package ("live/services.py") or, in
   the app's paragraph, by its file name ("services.py"). A module nobody described is a
   module a newcomer cannot find.
2. The packages are layered (LAYERS below, lowest first). Code may import its own package
   and any lower layer, never a higher one or another package of its own layer (except in
   the foundation and the wiring, SHARED). Imports under `if TYPE_CHECKING:` are for
   annotations only and are not counted.

Exit status 1 with one line per problem.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "diemcau"
MAP = ROOT / "docs" / "architecture.md"

# Lowest first. A name is a top-level module or package of `diemcau`.
LAYERS: list[tuple[str, ...]] = [
    # exportsafety, uploadsafety: user text into exported files, uploaded files checked.
    ("__init__", "config", "childprocess", "listening", "formats", "exportsafety", "uploadsafety"),
    ("media", "front", "turn"),  # adapters of Janus, Caddy, coturn: no models of ours
    ("accounts",),  # users, roles, every access rule
    ("orgs",),  # the organisation: units and sites
    ("meetings",),  # meetings, invitations, join links, agenda, documents
    ("directives",),  # văn bản chỉ đạo sent with meetings
    ("sfu",),  # Janus in one home (rooms of meetings)
    ("live",),  # the live meeting: control plane, media policy, serve
    ("minutes", "reports"),  # read the record of held meetings
    ("settings", "urls", "views", "asgi", "cli", "__main__"),  # wiring
]

# Layers whose modules may import each other: the foundation and the wiring on top.
SHARED = {0, len(LAYERS) - 1}

SKIP_PARTS = {"migrations", "templates", "static", "locale", "__pycache__", "fixtures"}


def layer_of(name: str) -> int | None:
    for index, names in enumerate(LAYERS):
        if name in names:
            return index
    return None


def modules() -> list[Path]:
    return sorted(
        p for p in PACKAGE.rglob("*.py") if not SKIP_PARTS & set(p.relative_to(PACKAGE).parts)
    )


def top(path: Path) -> str:
    parts = path.relative_to(PACKAGE).parts
    return parts[0] if len(parts) > 1 else parts[0].removesuffix(".py")


def imported(tree: ast.Module) -> list[tuple[int, str]]:
    """(line, top-level diemcau package) of every runtime import."""
    type_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for inner in ast.walk(node):
                type_only.add(id(inner))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "diemcau":
                names = [f"diemcau.{a.name}" for a in node.names]
            elif node.module.startswith("diemcau."):
                names = [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names if a.name.startswith("diemcau.")]
        found += [(getattr(node, "lineno", 0), n.split(".")[1]) for n in names]
    return found


def check() -> list[str]:
    problems: list[str] = []
    described = MAP.read_text(encoding="utf-8")
    for path in modules():
        rel = path.relative_to(PACKAGE)
        name = top(path)
        if layer_of(name) is None:
            problems.append(f"src/diemcau/{rel}: package {name!r} has no layer in {__file__}")
            continue
        if path.name != "__init__.py" and not _named(described, rel):
            problems.append(f"src/diemcau/{rel}: not named in docs/architecture.md")
        mine = layer_of(name)
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for line, target in imported(tree):
            theirs = layer_of(target)
            if target == name or theirs is None:
                continue
            assert mine is not None
            if theirs > mine or (theirs == mine and mine not in SHARED):
                where = "the same layer as" if theirs == mine else "above"
                problems.append(
                    f"src/diemcau/{rel}:{line}: imports diemcau.{target}, {where} "
                    f"diemcau.{name} (layers: {__file__})"
                )
    return problems


def _named(text: str, rel: Path) -> bool:
    # The path inside the package, or its tail inside the app ("templatetags/reports.py").
    for start in range(len(rel.parts) - 1):
        if "/".join(rel.parts[start:]) in text:
            return True
    # In an app's paragraph the file name alone is enough ("services.py"), as long as the
    # name is written as a word of its own, and the management commands by their name.
    if rel.parts[-2:-1] == ("commands",):
        return re.search(rf"\b{re.escape(rel.stem.replace('_', '-'))}\b", text) is not None
    return re.search(rf"(?<![\w/]){re.escape(rel.name)}\b", text) is not None


def main() -> int:
    problems = check()
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} architecture problem(s): fix the import, or the map.")
        return 1
    print(f"architecture: {len(modules())} modules on the map, every import goes downward")
    return 0


if __name__ == "__main__":
    sys.exit(main())
