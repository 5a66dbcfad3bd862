"""Who may do what. Every view and WebSocket handler asks these functions.

The rules, in one place:
- system admin, chair and HQ operator see the whole organisation;
- a site operator (and a delegate bound to a site) sees only that site and the meetings
  that site is invited to;
- importing sites and managing accounts is for the system admin and the HQ operator;
- scheduling, starting and ending meetings is for the chair, the HQ operator and the admin;
- a site's room join link (it makes a browser act as that site's room PC) is shown to HQ
  staff and that site's operator only, never to a delegate account bound to the site;
  so are its delegates' voting codes.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, Any, TypeVar

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from diemcau.accounts.models import Role

if TYPE_CHECKING:
    from diemcau.accounts.models import User
    from diemcau.orgs.models import Site


def is_hq_staff(user: Any) -> bool:
    return bool(getattr(user, "is_authenticated", False) and user.is_hq_staff)


def can_import_sites(user: Any) -> bool:
    return bool(
        getattr(user, "is_authenticated", False)
        and (user.is_superuser or user.role in (Role.ADMIN, Role.HQ_OPERATOR))
    )


def can_manage_meetings(user: Any) -> bool:
    return bool(
        getattr(user, "is_authenticated", False)
        and (user.is_superuser or user.role in (Role.ADMIN, Role.CHAIR, Role.HQ_OPERATOR))
    )


def can_view_site(user: User, site: Site) -> bool:
    if is_hq_staff(user):
        return True
    return user.site_id is not None and user.site_id == site.pk


def can_see_join_link(user: Any, site_id: int) -> bool:
    """The room join link lets whoever opens it publish as the site: only HQ staff (who hand
    it out) and the operator of that site's room PC need it."""
    if is_hq_staff(user):
        return True
    return bool(
        getattr(user, "is_authenticated", False)
        and user.role == Role.SITE_OPERATOR
        and user.site_id is not None
        and user.site_id == site_id
    )


def can_handle_voting_codes(user: Any, site_id: int) -> bool:
    """A site's voting codes (its sheet, adding, withdrawing or replacing a code) are for
    the people who hand them out: HQ staff and that site's operator; never a delegate (a
    code is one delegate's vote) nor another site."""
    return can_see_join_link(user, site_id)


V = TypeVar("V", bound=Callable[..., HttpResponse])


def require(check: Callable[[Any], bool]) -> Callable[[V], V]:
    """View decorator: log in first, then `check(user)` or 403."""

    def decorator(view: V) -> V:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not check(request.user):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return login_required(wrapped)  # type: ignore[return-value]

    return decorator
