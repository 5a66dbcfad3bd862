"""Organisation pages: who may see them, the site list with its map, and the import flow."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from pytest_django.fixtures import Settings as SettingsWrapper

import diemcau.orgs
from diemcau.accounts.models import Role, User
from diemcau.orgs.models import Site, SiteKind, Unit

SAMPLE = Path(diemcau.orgs.__file__).parent / "fixtures" / "sites-sample.csv"
MakeUser = Callable[..., User]


@pytest.fixture
def sites(db: None) -> dict[str, Site]:
    hq = Unit.objects.create(name="Công đoàn Cao su Việt Nam")
    corp = Unit.objects.create(name="Công đoàn Tổng công ty Cao su Đồng Nai", parent=hq)
    grassroots = Unit.objects.create(name="Công đoàn Nông trường An Lộc", parent=corp)
    laos = Unit.objects.create(name="Công đoàn Cao su Việt Lào", parent=hq)
    made = [
        Site(
            code="HQ",
            name="Điểm cầu chính",
            unit=hq,
            kind=SiteKind.MAIN,
            province="HCM",
            latitude=10.779,
            longitude=106.688,
            expected_delegates=40,
        ),
        Site(
            code="CSDN",
            name="Cao su Đồng Nai",
            unit=corp,
            province="Đồng Nai",
            latitude=10.938,
            longitude=107.241,
            expected_delegates=30,
        ),
        Site(
            code="NTAL",
            name="Nông trường An Lộc",
            unit=grassroots,
            province="Đồng Nai",
            expected_delegates=12,
        ),
        Site(
            code="CSVL",
            name="Cao su Việt Lào",
            unit=laos,
            province="Champasak",
            country="LA",
            latitude=15.12,
            longitude=105.8,
            expected_delegates=10,
            active=False,
        ),
    ]
    for site in made:
        site.save()
    return {s.code: s for s in made}


@pytest.fixture
def uploads_dir(settings: SettingsWrapper, tmp_path: Path) -> Path:
    settings.DATA_DIR = tmp_path
    return tmp_path / "uploads"


def login(client: Client, make_user: MakeUser, role: str, site: Site | None = None) -> User:
    user = make_user(role, site)
    client.force_login(user)
    return user


# --- who may see what -------------------------------------------------------------------

PAGES = [
    ("orgs:site_list", []),
    ("orgs:unit_tree", []),
    ("orgs:import_upload", []),
    ("orgs:site_detail", ["CSDN"]),
]


@pytest.mark.parametrize(("name", "args"), PAGES)
def test_anonymous_visitor_is_sent_to_login(
    client: Client, sites: dict[str, Site], name: str, args: list[str]
) -> None:
    url = reverse(name, args=args)

    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


def test_site_operator_sees_own_site(
    client: Client, sites: dict[str, Site], make_user: MakeUser
) -> None:
    login(client, make_user, Role.SITE_OPERATOR, sites["CSDN"])

    response = client.get(reverse("orgs:site_detail", args=["CSDN"]))

    assert response.status_code == 200
    assert "Cao su Đồng Nai" in response.content.decode()


def test_site_operator_cannot_see_another_sites_detail(
    client: Client, sites: dict[str, Site], make_user: MakeUser
) -> None:
    login(client, make_user, Role.SITE_OPERATOR, sites["CSDN"])

    assert client.get(reverse("orgs:site_detail", args=["HQ"])).status_code == 403


@pytest.mark.parametrize("name", ["orgs:site_list", "orgs:unit_tree", "orgs:import_upload"])
def test_site_operator_cannot_see_organisation_pages(
    client: Client, sites: dict[str, Site], make_user: MakeUser, name: str
) -> None:
    login(client, make_user, Role.SITE_OPERATOR, sites["CSDN"])

    assert client.get(reverse(name)).status_code == 403


def test_delegate_without_site_cannot_see_any_site(
    client: Client, sites: dict[str, Site], make_user: MakeUser
) -> None:
    login(client, make_user, Role.DELEGATE)

    assert client.get(reverse("orgs:site_detail", args=["CSDN"])).status_code == 403


@pytest.mark.parametrize("name", ["orgs:site_list", "orgs:unit_tree", "orgs:import_upload"])
def test_hq_operator_sees_organisation_pages(
    client: Client, sites: dict[str, Site], make_user: MakeUser, name: str
) -> None:
    login(client, make_user, Role.HQ_OPERATOR)

    assert client.get(reverse(name)).status_code == 200


def test_hq_operator_sees_any_sites_detail(
    client: Client, sites: dict[str, Site], make_user: MakeUser
) -> None:
    login(client, make_user, Role.HQ_OPERATOR)

    assert client.get(reverse("orgs:site_detail", args=["CSVL"])).status_code == 200


def test_chair_sees_sites_but_cannot_import(
    client: Client, sites: dict[str, Site], make_user: MakeUser
) -> None:
    login(client, make_user, Role.CHAIR)

    assert client.get(reverse("orgs:site_list")).status_code == 200
    assert client.get(reverse("orgs:import_upload")).status_code == 403


def test_unknown_site_code_is_not_found(
    client: Client, sites: dict[str, Site], make_user: MakeUser
) -> None:
    login(client, make_user, Role.HQ_OPERATOR)

    assert client.get(reverse("orgs:site_detail", args=["NOPE"])).status_code == 404


# --- site list, map, unit tree ----------------------------------------------------------


def listed(response: Any) -> list[str]:
    return [s.code for s in response.context["sites"]]


def test_site_list_shows_totals_and_a_map_of_sites_with_coordinates(
    client: Client, sites: dict[str, Site], make_user: MakeUser
) -> None:
    login(client, make_user, Role.HQ_OPERATOR)

    response = client.get(reverse("orgs:site_list"))

    html = response.content.decode()
    assert response.context["total_sites"] == 4
    assert response.context["total_delegates"] == 92
    assert "<svg" in html and "<circle" in html
    site_map = response.context["site_map"]
    assert sorted(p.code for p in site_map.points) == ["CSDN", "CSVL", "HQ"]
    assert site_map.without_coordinates == 1
    assert "10°N" in html and "106°E" in html
    # SVG coordinates are never localised with a decimal comma.
    assert all("," not in p.x and "," not in p.y for p in site_map.points)


def test_site_list_filters_by_unit_including_sub_units(
    client: Client, sites: dict[str, Site], make_user: MakeUser
) -> None:
    login(client, make_user, Role.HQ_OPERATOR)
    corp = sites["CSDN"].unit

    response = client.get(reverse("orgs:site_list"), {"unit": corp.pk})

    assert listed(response) == ["CSDN", "NTAL"]
    assert response.context["total_delegates"] == 42


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"kind": "main"}, ["HQ"]),
        ({"province": "Đồng Nai"}, ["CSDN", "NTAL"]),
        ({"country": "LA"}, ["CSVL"]),
        ({"active": "no"}, ["CSVL"]),
        ({"q": "lộc"}, ["NTAL"]),
        ({"q": "việt lào"}, ["CSVL"]),
    ],
)
def test_site_list_filters(
    client: Client,
    sites: dict[str, Site],
    make_user: MakeUser,
    query: dict[str, str],
    expected: list[str],
) -> None:
    login(client, make_user, Role.HQ_OPERATOR)

    assert sorted(listed(client.get(reverse("orgs:site_list"), query))) == expected


def test_unit_tree_counts_active_sites_including_sub_units(
    client: Client, sites: dict[str, Site], make_user: MakeUser
) -> None:
    login(client, make_user, Role.HQ_OPERATOR)

    response = client.get(reverse("orgs:unit_tree"))

    (root,) = response.context["roots"]
    assert (root.own_sites, root.total_sites) == (1, 3)  # CSVL is inactive
    corp = next(c for c in root.children if c.unit.name.endswith("Đồng Nai"))
    assert [c.unit.name for c in corp.children] == ["Công đoàn Nông trường An Lộc"]
    assert "Công đoàn Nông trường An Lộc" in response.content.decode()


# --- import flow ------------------------------------------------------------------------


def upload(client: Client, name: str, data: bytes) -> Any:
    from django.core.files.uploadedfile import SimpleUploadedFile

    return client.post(reverse("orgs:import_upload"), {"file": SimpleUploadedFile(name, data)})


def test_upload_preview_and_confirm_imports_the_sample_file(
    client: Client, db: None, make_user: MakeUser, uploads_dir: Path
) -> None:
    login(client, make_user, Role.HQ_OPERATOR)

    response = upload(client, "sites-sample.csv", SAMPLE.read_bytes())
    assert response.status_code == 302
    preview_url = response["Location"]
    stored = list(uploads_dir.iterdir())
    assert stored and all("sites-sample" not in p.name for p in stored)  # random names

    preview = client.get(preview_url)
    assert preview.status_code == 200
    assert preview.context["plan"].to_create == 26
    assert Site.objects.count() == 0  # nothing written before the confirmation

    token = preview.context["token"]
    confirmed = client.post(reverse("orgs:import_confirm", args=[token]))
    assert confirmed.status_code == 302
    assert Site.objects.count() == 26
    assert list(uploads_dir.iterdir()) == []  # the stored file is removed


def test_preview_lists_every_problem_and_offers_no_confirm_button(
    client: Client, db: None, make_user: MakeUser, uploads_dir: Path
) -> None:
    login(client, make_user, Role.ADMIN)
    bad = SAMPLE.read_text(encoding="utf-8").replace("10.9380", "1o.9380").encode()

    preview = client.get(upload(client, "sites.csv", bad)["Location"])

    html = preview.content.decode()
    (problem,) = preview.context["plan"].problems
    assert (problem.row, problem.column, problem.value) == (3, "latitude", "1o.9380")
    assert "1o.9380" in html and "latitude" in html
    assert reverse("orgs:import_confirm", args=[preview.context["token"]]) not in html


def test_confirm_checks_the_file_again_and_writes_nothing_if_it_is_now_wrong(
    client: Client, db: None, make_user: MakeUser, uploads_dir: Path
) -> None:
    login(client, make_user, Role.HQ_OPERATOR)
    preview = client.get(upload(client, "sites.csv", SAMPLE.read_bytes())["Location"])
    assert preview.context["plan"].ok
    # Someone adds another main site between the preview and the confirmation.
    unit = Unit.objects.create(name="Khác")
    Site.objects.create(code="OTHER", name="Other", unit=unit, kind=SiteKind.MAIN)

    response = client.post(reverse("orgs:import_confirm", args=[preview.context["token"]]))

    assert response.status_code == 409
    assert "OTHER" in response.content.decode()
    assert Site.objects.count() == 1


def test_another_user_cannot_use_someone_elses_upload(
    client: Client, db: None, make_user: MakeUser, uploads_dir: Path
) -> None:
    login(client, make_user, Role.HQ_OPERATOR)
    preview_url = upload(client, "sites.csv", SAMPLE.read_bytes())["Location"]
    token = client.get(preview_url).context["token"]

    login(client, make_user, Role.ADMIN)

    assert client.get(preview_url).status_code == 404
    client.post(reverse("orgs:import_confirm", args=[token]))
    assert Site.objects.count() == 0


def test_upload_of_a_word_document_is_refused_by_the_form(
    client: Client, db: None, make_user: MakeUser, uploads_dir: Path
) -> None:
    login(client, make_user, Role.HQ_OPERATOR)

    response = upload(client, "sites.docx", b"PK\x03\x04")

    assert response.status_code == 200
    assert ".docx" in response.context["form"].errors["file"][0]
    assert not uploads_dir.exists() or list(uploads_dir.iterdir()) == []


def test_upload_larger_than_the_limit_is_refused(
    client: Client, db: None, make_user: MakeUser, uploads_dir: Path, settings: SettingsWrapper
) -> None:
    settings.SITE_IMPORT_MAX_BYTES = 100
    login(client, make_user, Role.HQ_OPERATOR)

    response = upload(client, "sites.csv", SAMPLE.read_bytes())

    assert response.status_code == 200
    assert response.context["form"].errors["file"]


def test_site_operator_cannot_confirm_an_import(
    client: Client, sites: dict[str, Site], make_user: MakeUser, uploads_dir: Path
) -> None:
    login(client, make_user, Role.SITE_OPERATOR, sites["CSDN"])

    response = client.post(reverse("orgs:import_confirm", args=["0" * 32]))

    assert response.status_code == 403


@pytest.mark.parametrize(
    "url",
    ["/admin/orgs/site/", "/admin/orgs/unit/", "/admin/orgs/site/add/", "/admin/orgs/site/?q=lào"],
)
def test_admin_pages_for_units_and_sites_open(
    client: Client, sites: dict[str, Site], url: str
) -> None:
    client.force_login(User.objects.create_superuser("root", "root@example.com", "x"))

    assert client.get(url).status_code == 200


def test_admin_refuses_a_second_active_main_site(client: Client, sites: dict[str, Site]) -> None:
    client.force_login(User.objects.create_superuser("root", "root@example.com", "x"))
    csdn = sites["CSDN"]
    form = {
        "code": "CSDN",
        "name": csdn.name,
        "unit": csdn.unit.pk,
        "kind": "main",
        "active": "on",
        "province": "",
        "country": "VN",
        "expected_delegates": "30",
    }

    response = client.post(f"/admin/orgs/site/{csdn.pk}/change/", form)

    assert response.status_code == 200  # the form is shown again with the error
    assert "HQ" in response.context["adminform"].form.errors["kind"][0]
    assert Site.objects.get(code="CSDN").kind == SiteKind.BRANCH
