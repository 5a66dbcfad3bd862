"""The organisation: a tree of units, and the sites (meeting rooms) that join meetings."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _


class Unit(models.Model):
    """An organisation in the tree: HQ → corporation union → grassroots union."""

    name = models.CharField(_("name"), max_length=200, unique=True)
    parent = models.ForeignKey(
        "self",
        verbose_name=_("parent unit"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
    )

    class Meta:
        ordering = ["name"]
        verbose_name = _("unit")
        verbose_name_plural = _("units")

    def __str__(self) -> str:
        return self.name

    def descendant_ids(self) -> set[int]:
        """This unit and every unit below it (the tree is small: one query per level)."""
        found = {self.pk}
        frontier = [self.pk]
        while frontier:
            frontier = list(
                Unit.objects.filter(parent_id__in=frontier).values_list("pk", flat=True)
            )
            found.update(frontier)
        return found


class SiteKind(models.TextChoices):
    MAIN = "main", _("main endpoint")
    BRANCH = "branch", _("branch endpoint")


site_code_validator = RegexValidator(
    r"^[A-Za-z0-9_.-]{1,32}$",
    _("Use 1–32 letters, digits, '-', '_' or '.' without spaces."),
)


class Site(models.Model):
    """A meeting room with equipment that joins meetings as one endpoint (điểm cầu)."""

    code = models.CharField(_("code"), max_length=32, unique=True, validators=[site_code_validator])
    name = models.CharField(_("name"), max_length=200)
    unit = models.ForeignKey(
        Unit, verbose_name=_("unit"), on_delete=models.PROTECT, related_name="sites"
    )
    kind = models.CharField(
        _("kind"), max_length=10, choices=SiteKind.choices, default=SiteKind.BRANCH
    )
    province = models.CharField(_("province"), max_length=100, blank=True)
    country = models.CharField(_("country"), max_length=2, default="VN")
    latitude = models.DecimalField(
        _("latitude"),
        max_digits=9,
        decimal_places=6,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal(-90)), MaxValueValidator(Decimal(90))],
    )
    longitude = models.DecimalField(
        _("longitude"),
        max_digits=9,
        decimal_places=6,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal(-180)), MaxValueValidator(Decimal(180))],
    )
    expected_delegates = models.PositiveIntegerField(_("expected delegates"), default=0)
    contact_name = models.CharField(_("contact person"), max_length=200, blank=True)
    contact_phone = models.CharField(_("contact phone"), max_length=50, blank=True)
    contact_email = models.EmailField(_("contact e-mail"), blank=True)
    active = models.BooleanField(_("active"), default=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["-kind", "code"]  # main before branch, then by code
        verbose_name = _("site")
        verbose_name_plural = _("sites")

    def __str__(self) -> str:
        return f"{self.code} – {self.name}"

    @property
    def is_main(self) -> bool:
        return self.kind == SiteKind.MAIN

    def clean(self) -> None:
        # One active main site (the HQ room) unless the installation runs several HQs.
        # Checked here for forms and the admin; the importer checks a whole file at once.
        super().clean()
        if self.kind != SiteKind.MAIN or not self.active or settings.ALLOW_MULTIPLE_MAIN_SITES:
            return
        other = Site.objects.filter(kind=SiteKind.MAIN, active=True).exclude(pk=self.pk).first()
        if other is not None:
            raise ValidationError(
                {
                    "kind": _("%(code)s is already the active main site; only one is allowed.")
                    % {"code": other.code}
                }
            )
