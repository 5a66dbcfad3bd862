"""The `diemcau` command.

`diemcau serve`, `diemcau import-sites FILE`, `diemcau doctor`, `diemcau demo`, and every
Django `manage.py` command (`diemcau migrate`, `diemcau createsuperuser`, ...).
"""

from __future__ import annotations

import os
import sys

# Our own commands, spelled with dashes on the command line.
ALIASES = {"import-sites": "import_sites"}


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv if argv is None else argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "diemcau.settings")
    if len(argv) > 1:
        argv[1] = ALIASES.get(argv[1], argv[1])
    argv[0] = "diemcau"
    from django.core.management import execute_from_command_line

    from diemcau.config import ConfigError

    try:
        execute_from_command_line(argv)
    except ConfigError as exc:
        # A bad setting is the operator's to fix: say which, without a traceback.
        sys.stderr.write(f"diemcau: {exc}\n")
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
