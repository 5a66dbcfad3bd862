"""Numbers for people: grouped by the active language's format (vi: 1.250.000 ₫, 12,5)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from django.utils.formats import number_format


def vnd(amount: int) -> str:
    return f"{number_format(int(amount), force_grouping=True)} ₫"


def hours(value: Decimal | int | float) -> str:
    one = Decimal(str(value)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    return number_format(one, decimal_pos=1, force_grouping=True)


def percent(value: Decimal | int | float) -> str:
    one = Decimal(str(value)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    return f"{number_format(one, decimal_pos=1)} %"
