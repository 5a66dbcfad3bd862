"""The project's own URLconf serves the orgs pages where base.html links to them."""

from __future__ import annotations

from django.test import Client
from django.urls import reverse


def test_project_mounts_the_orgs_pages_under_orgs(client: Client, db: None) -> None:
    assert reverse("orgs:site_list") == "/orgs/sites/"
    assert reverse("orgs:site_detail", args=["CSDN"]) == "/orgs/sites/CSDN/"
    assert reverse("orgs:unit_tree") == "/orgs/units/"

    response = client.get("/orgs/sites/")

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))
