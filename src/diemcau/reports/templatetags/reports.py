"""Money and hours the Vietnamese way, through Django's localisation (1.250.000 ₫)."""

from __future__ import annotations

from decimal import Decimal

from django import template

from diemcau.reports.formatting import hours, vnd

register = template.Library()


@register.filter(name="vnd")
def vnd_filter(value: int | None) -> str:
    return vnd(value or 0)


@register.filter(name="hours")
def hours_filter(value: Decimal | int | None) -> str:
    return hours(value or 0)
