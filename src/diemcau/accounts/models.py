"""Accounts and roles.

Roles are a field rather than Django groups because every permission rule in the product
is a rule about a role and, for a site operator, one site (see `permissions.py`).
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    ADMIN = "admin", _("system admin")
    CHAIR = "chair", _("chair")
    HQ_OPERATOR = "hq_operator", _("HQ operator")
    SITE_OPERATOR = "site_operator", _("site operator")
    DELEGATE = "delegate", _("delegate")


class User(AbstractUser):
    role = models.CharField(_("role"), max_length=20, choices=Role.choices, default=Role.DELEGATE)
    site = models.ForeignKey(
        "orgs.Site",
        verbose_name=_("site"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="users",
        help_text=_("Required for a site operator: the one site this account acts for."),
    )

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(role="site_operator") | models.Q(site__isnull=False),
                name="site_operator_has_site",
            )
        ]

    def clean(self) -> None:
        super().clean()
        if self.role == Role.SITE_OPERATOR and self.site_id is None:
            raise ValidationError({"site": _("A site operator must be bound to one site.")})

    @property
    def is_hq_staff(self) -> bool:
        """Admin, chair and HQ operator see the whole organisation."""
        return self.is_superuser or self.role in (Role.ADMIN, Role.CHAIR, Role.HQ_OPERATOR)
