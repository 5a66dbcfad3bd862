"""Organisation pages: site list with map, site detail, unit tree, site import.

Views are thin: check the role, call a selector or a service, render.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Sum
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from diemcau.accounts.permissions import can_import_sites, can_view_site, is_hq_staff, require
from diemcau.orgs import selectors, uploads
from diemcau.orgs.forms import SiteFilterForm, SiteImportForm, import_max_bytes
from diemcau.orgs.importer import OPTIONAL_COLUMNS, REQUIRED_COLUMNS, ImportPlan
from diemcau.orgs.maps import build_map, coordinates_label
from diemcau.orgs.models import Site
from diemcau.orgs.services import ImportRejected, apply_import, preview_import
from diemcau.uploadsafety import upload_limit


@require_GET
@require(is_hq_staff)
def site_list(request: HttpRequest) -> HttpResponse:
    form = SiteFilterForm(request.GET or None)
    sites = form.sites()
    totals = sites.aggregate(count=Count("pk"), delegates=Sum("expected_delegates"))
    site_rows = list(sites)
    return render(
        request,
        "orgs/site_list.html",
        {
            "form": form,
            "sites": site_rows,
            "total_sites": totals["count"],
            "total_delegates": totals["delegates"] or 0,
            "site_map": build_map(site_rows),
            "can_import": can_import_sites(request.user),
        },
    )


@require_GET
@login_required
def site_detail(request: HttpRequest, code: str) -> HttpResponse:
    site = get_object_or_404(Site.objects.select_related("unit", "unit__parent"), code=code)
    if not can_view_site(request.user, site):  # type: ignore[arg-type]
        raise PermissionDenied
    return render(
        request,
        "orgs/site_detail.html",
        {
            "site": site,
            "coordinates": coordinates_label(site),
            "site_map": build_map([site], size=360),
            "is_hq": is_hq_staff(request.user),
        },
    )


@require_GET
@require(is_hq_staff)
def unit_tree(request: HttpRequest) -> HttpResponse:
    roots = selectors.unit_tree()
    return render(
        request,
        "orgs/unit_tree.html",
        {
            "roots": roots,
            "total_sites": sum(r.total_sites for r in roots),
            "total_delegates": sum(r.total_delegates for r in roots),
        },
    )


@upload_limit(import_max_bytes)
@require_http_methods(["GET", "POST"])
@require(can_import_sites)
def import_upload(request: HttpRequest) -> HttpResponse:
    form = SiteImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        token = uploads.store(form.cleaned_data["file"], _user_id(request))
        return redirect("orgs:import_preview", token=token)
    return render(
        request,
        "orgs/import_upload.html",
        {
            "form": form,
            "required_columns": REQUIRED_COLUMNS,
            "optional_columns": OPTIONAL_COLUMNS,
            "max_bytes": import_max_bytes(),
        },
    )


def _user_id(request: HttpRequest) -> int:
    # Only reached behind `require(...)`, so the user is logged in and has a primary key.
    return int(request.user.pk or 0)


def _render_preview(
    request: HttpRequest, token: str, plan: ImportPlan, status: int = 200
) -> HttpResponse:
    return render(
        request, "orgs/import_preview.html", {"token": token, "plan": plan}, status=status
    )


@require_GET
@require(can_import_sites)
def import_preview(request: HttpRequest, token: str) -> HttpResponse:
    stored = uploads.load(token, _user_id(request))
    if stored is None:
        raise Http404
    return _render_preview(request, token, preview_import(stored.data, stored.filename))


@require_POST
@require(can_import_sites)
def import_confirm(request: HttpRequest, token: str) -> HttpResponse:
    stored = uploads.load(token, _user_id(request))
    if stored is None:
        messages.error(request, _("This upload has expired; upload the file again."))
        return redirect("orgs:import_upload")
    try:
        # Checks the file again: the sites may have changed since the preview.
        result = apply_import(stored.data, stored.filename)
    except ImportRejected as rejected:
        return _render_preview(request, token, rejected.plan, status=409)
    uploads.discard(token)
    messages.success(request, result.summary())
    return redirect("orgs:site_list")
