"""Invitations name the local CA first: its /ca/ address and fingerprint (page and .ics)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from django.test import Client
from django.urls import reverse

from diemcau.accounts.models import Role
from diemcau.front import certs
from diemcau.meetings.models import Meeting
from tests.conftest import MakeUser, Org
from tests.unit.test_front_certs import make_root


def local_ca(settings: Any, tmp_path: Path, mode: str = "internal") -> str:
    settings.FRONT = dataclasses.replace(
        settings.FRONT, mode=mode, names=("10.0.0.5",), http_port=80, folder=tmp_path / "caddy"
    )
    make_root(settings.FRONT.ca_root)
    root = certs.load_root(settings.FRONT.ca_root)
    assert root is not None
    return root.sha256


def test_invitation_page_and_ics_name_the_ca_address_and_fingerprint(
    client: Client, settings: Any, tmp_path: Path, meeting: Meeting, org: Org, make_user: MakeUser
) -> None:
    fingerprint = local_ca(settings, tmp_path)
    client.force_login(make_user(Role.CHAIR))
    page = client.get(reverse("meetings:detail", args=[meeting.pk])).content.decode()
    assert "http://10.0.0.5/ca/" in page and fingerprint in page
    ics = client.get(reverse("meetings:ics", args=[meeting.pk, "CSDN"])).content.decode()
    unfolded = ics.replace("\r\n ", "")
    assert "http://10.0.0.5/ca/" in unfolded and fingerprint in unfolded
    # The CA comes before the join link: without it the link meets a certificate warning.
    assert unfolded.index("/ca/") < unfolded.index("/join/")


def test_with_a_publicly_trusted_certificate_invitations_say_nothing_of_a_ca(
    client: Client, settings: Any, tmp_path: Path, meeting: Meeting, make_user: MakeUser
) -> None:
    local_ca(settings, tmp_path, mode="acme")
    client.force_login(make_user(Role.CHAIR))
    page = client.get(reverse("meetings:detail", args=[meeting.pk])).content.decode()
    assert "/ca/" not in page
    ics = client.get(reverse("meetings:ics", args=[meeting.pk, "CSDN"])).content.decode()
    assert "/ca/" not in ics
