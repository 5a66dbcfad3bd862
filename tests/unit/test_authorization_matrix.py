"""The authorization matrix (issue 11, "The test that keeps this closed"): every URL pattern
and every control-socket message type, tried by every role, against one table of answers.

What is tried comes from the code, not from a list kept by hand:
- the URL patterns are walked from `django.urls.get_resolver()` (namespaces included), and
  each gets a concrete URL filled with objects of one seeded organisation (`World`);
- the message types are the keys of `consumers.HANDLERS` and the types
  `MeetingConsumer._handle` compares `kind` with (read from its source); the connection
  itself is tried on each socket role of `live/routing.py`.
A pattern or type without a row in the tables below fails its cells ("add a row for …"),
and a row for something that no longer exists fails `test_the_tables_have_no_row_for_*`.

The answers are what the product SHOULD do (least privilege, as issue 11 asks), not what
it does today: a cell that fails names what the code answers instead.

How an HTTP answer is classified (`http_answer`):
- "login": a redirect to a login page (ours or the admin's);
- "403", "404", "405": refused (a 404 is how some views hide other sites' objects);
- "ok": let through — a 2xx, or a redirect anywhere but to a login page (a form posted
  empty and redisplayed with its errors, or an action that ran and redirected, both passed
  the permission check, which is what the matrix is about);
- anything else is its status code ("500" means a bug).
Every pattern is tried with GET and with an empty POST (CSRF is not what is tested here);
each request runs in a transaction rolled back afterwards, so a POST that is let through
changes nothing for the next cell.

How a socket answer is classified (`ws_answer`): "closed" when the server closes the socket
on connecting; else the refusal code of the reply to the message (`live.actions.CODES`), or
"ok" when no refusal came: a reply, or silence for the types that have none (quality,
media.published). A refusal that can only come after the role check (`not_now`,
`already_done`, `over_limit`: the state of the moment) counts as "ok", so the cells do not
depend on the order they run in. `media.access` and `media.published` are let through up
to Janus, which is pointed at a closed port here (no Janus in unit tests): their
`server_error` counts as "ok", as every refusal comes before Janus is asked
(`media_policy._checked`, and the consumer's own check for media.published).
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import io
import json
import re
import secrets
import socket
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import pytest
from asgiref.testing import ApplicationCommunicator
from django.conf import settings
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import connection, transaction
from django.http import HttpResponse
from django.http.response import HttpResponseBase
from django.test import Client, RequestFactory, override_settings
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse
from django.urls.resolvers import RoutePattern
from django.utils import timezone, translation

from diemcau.accounts.models import Role, User
from diemcau.asgi import application
from diemcau.directives import services as directive_services
from diemcau.directives.models import Directive, DirectiveRecipient
from diemcau.live import consumers
from diemcau.live import services as live_services
from diemcau.live.actions import (
    ALREADY_DONE,
    CODES,
    NOT_ALLOWED,
    NOT_INVITED,
    NOT_LIVE,
    NOT_NOW,
    OVER_LIMIT,
    SERVER_ERROR,
)
from diemcau.live.management.commands.demo import held_demo_meeting
from diemcau.live.routing import websocket_urlpatterns
from diemcau.meetings import joinlinks
from diemcau.meetings import services as meeting_services
from diemcau.meetings.models import Document, Invitation, Meeting, MeetingStatus
from diemcau.minutes import services as minutes_services
from diemcau.orgs import uploads
from diemcau.orgs.models import Site, SiteKind, Unit
from tests.asgisocket import websocket_scope

# --- the roles ------------------------------------------------------------------------

# Who tries, in the tables' column order. Each is one browser (one session cookie):
ACTORS = (
    "anon",  # anonymous: no session at all
    "dlink",  # a phone that opened site A's delegates' link (no account)
    "dacct",  # logged in: a delegate account bound to site A
    "opB",  # site A's operator (logged in, room link of A opened) against site B's objects
    "opA",  # the same browser against site A's own objects
    "hq",  # logged in: an HQ operator
    "chair",  # logged in: a chair
    "admin",  # logged in: a system admin (superuser, staff)
    "off",  # a second operator of site A: logged in, opened A's room link, then disabled
    "rvk",  # a room PC (no account) that opened A's room link, which was then revoked
)

# --- the table ------------------------------------------------------------------------
#
# One row per URL pattern and method (ALL: GET and POST alike). The key is the pattern's
# `namespace:name`, or `namespace:route` for an unnamed one; `admin:<model>` is every page
# of every ModelAdmin (registered models come and go; the rule for all of them is one:
# the admin site is for admins only), but the add page of a ModelAdmin that lets nobody
# add (a log, such as axes' login attempts), which is `admin:<model:no-add>`.
#
# Judgement calls, read the least-privilege way where the issue does not decide:
# - A join link (room or delegates') is a bearer credential of its site: whoever holds a
#   current one may open it, logged in or not (refusing a logged-in account would change
#   nothing: the same browser logged out gets in). What the matrix checks is that no page
#   hands out a link to those who may not have it (meetings:ics), that a revoked link
#   opens nothing, and that what a link granted ends with the link or the account.
# - A disabled account's browser is anonymous to every page (Django), and everything its
#   earlier session was granted is void: no socket, no room action.
# - Confirming receipt of a directive (directive_ack) is the site's act, done by its
#   operator (or its room PC): a delegate account of the site may read it, not confirm it.
# - The public CA download pages answer 404 "nothing to install yet" to everyone here (no
#   local CA root in this test's front folder): public, no login, the same for all.
# - admin:logout sends anyone who is not staff to the admin index (Django; harmless), and
#   the admin's catch-all answers 404 to everyone (nothing to hide behind it).
HTTP_TABLE = """
# pattern                       meth  anon  dlink dacct opB   opA   hq    chair admin off   rvk
home                            ALL   login login ok    ok    ok    ok    ok    ok    login login
accounts:login                  ALL   ok    ok    ok    ok    ok    ok    ok    ok    ok    ok
accounts:logout                 GET   405   405   405   405   405   405   405   405   405   405
accounts:logout                 POST  login login login login login login login login login login
front:ca                        GET   ok    ok    ok    ok    ok    ok    ok    ok    ok    ok
front:ca                        POST  405   405   405   405   405   405   405   405   405   405
front:ca_cert                   GET   404   404   404   404   404   404   404   404   404   404
front:ca_cert                   POST  405   405   405   405   405   405   405   405   405   405
front:ca_cert_der               GET   404   404   404   404   404   404   404   404   404   404
front:ca_cert_der               POST  405   405   405   405   405   405   405   405   405   405
front:trust_check               GET   ok    ok    ok    ok    ok    ok    ok    ok    ok    ok
front:trust_check               POST  405   405   405   405   405   405   405   405   405   405
front:continue                  ALL   ok    ok    ok    ok    ok    ok    ok    ok    ok    ok
orgs:site_list                  GET   login login 403   403   403   ok    ok    ok    login login
orgs:site_list                  POST  405   405   405   405   405   405   405   405   405   405
orgs:site_detail                GET   login login ok    403   ok    ok    ok    ok    login login
orgs:site_detail                POST  405   405   405   405   405   405   405   405   405   405
orgs:unit_tree                  GET   login login 403   403   403   ok    ok    ok    login login
orgs:unit_tree                  POST  405   405   405   405   405   405   405   405   405   405
orgs:import_upload              ALL   login login 403   403   403   ok    403   ok    login login
orgs:import_preview             GET   login login 403   403   403   ok    403   ok    login login
orgs:import_preview             POST  405   405   405   405   405   405   405   405   405   405
orgs:import_confirm             GET   405   405   405   405   405   405   405   405   405   405
orgs:import_confirm             POST  login login 403   403   403   ok    403   ok    login login
meetings:list                   ALL   login login ok    ok    ok    ok    ok    ok    login login
meetings:create                 ALL   login login 403   403   403   ok    ok    ok    login login
meetings:detail                 ALL   login login ok    404   ok    ok    ok    ok    login login
meetings:edit                   ALL   login login 403   403   403   ok    ok    ok    login login
meetings:ics                    ALL   login login 403   403   ok    ok    ok    ok    login login
meetings:revoke                 GET   405   405   405   405   405   405   405   405   405   405
meetings:revoke                 POST  login login 403   403   403   ok    ok    ok    login login
meetings:document_upload        GET   405   405   405   405   405   405   405   405   405   405
meetings:document_upload        POST  login login 403   403   403   ok    ok    ok    login login
meetings:document               ALL   login login ok    404   ok    ok    ok    ok    login login
directives:directives           ALL   login login ok    ok    ok    ok    ok    ok    login login
directives:directive_create     ALL   login login 403   403   403   ok    ok    ok    login login
directives:directive            ALL   login login ok    404   ok    ok    ok    ok    login login
directives:directive_file       ALL   login login ok    404   ok    ok    ok    ok    login login
directives:directive_ack        GET   405   405   405   405   405   405   405   405   405   405
directives:directive_ack        POST  login login 403   403   ok    403   403   403   login login
directives:directive_remind     GET   405   405   405   405   405   405   405   405   405   405
directives:directive_remind     POST  login login 403   403   403   ok    ok    ok    login login
directives:directive_ack_room   GET   405   405   405   405   405   405   405   405   405   405
directives:directive_ack_room   POST  403   403   403   403   ok    403   403   403   403   403
directives:directive_file_room  ALL   403   403   403   403   ok    403   403   403   403   403
live:join                       ALL   ok    ok    ok    ok    ok    ok    ok    ok    ok    403
live:delegate                   ALL   ok    ok    ok    ok    ok    ok    ok    ok    ok    403
live:console                    ALL   login login 403   403   403   ok    ok    ok    login login
live:voting_codes_all           ALL   login login 403   403   403   ok    ok    ok    login login
live:voting_codes               ALL   login login 403   403   ok    ok    ok    ok    login login
live:voting_codes_add           GET   405   405   405   405   405   405   405   405   405   405
live:voting_codes_add           POST  login login 403   403   ok    ok    ok    ok    login login
live:voting_code_action         GET   405   405   405   405   405   405   405   405   405   405
live:voting_code_action         POST  login login 403   403   ok    ok    ok    ok    login login
live:meeting_action             GET   405   405   405   405   405   405   405   405   405   405
live:meeting_action             POST  login login 403   403   403   ok    ok    ok    login login
reports:dashboard               ALL   login login ok    ok    ok    ok    ok    ok    login login
reports:dashboard_xlsx          ALL   login login ok    ok    ok    ok    ok    ok    login login
reports:dashboard_pdf           ALL   login login ok    ok    ok    ok    ok    ok    login login
reports:meeting                 ALL   login login ok    404   ok    ok    ok    ok    login login
reports:meeting_xlsx            ALL   login login ok    404   ok    ok    ok    ok    login login
reports:meeting_pdf             ALL   login login ok    404   ok    ok    ok    ok    login login
reports:attendance              ALL   login login ok    ok    ok    ok    ok    ok    login login
reports:attendance_xlsx         ALL   login login ok    ok    ok    ok    ok    ok    login login
reports:site_attendance         ALL   login login ok    404   ok    ok    ok    ok    login login
minutes:edit                    ALL   login login 403   403   403   ok    ok    ok    login login
minutes:action                  GET   405   405   405   405   405   405   405   405   405   405
minutes:action                  POST  login login 403   403   403   ok    ok    ok    login login
minutes:download                ALL   login login ok    404   ok    ok    ok    ok    login login
javascript-catalog              GET   ok    ok    ok    ok    ok    ok    ok    ok    ok    ok
javascript-catalog              POST  405   405   405   405   405   405   405   405   405   405
set_language                    ALL   ok    ok    ok    ok    ok    ok    ok    ok    ok    ok
admin:index                     ALL   login login login login login login login ok    login login
admin:login                     ALL   ok    ok    ok    ok    ok    ok    ok    ok    ok    ok
admin:logout                    GET   ok    ok    ok    ok    ok    ok    ok    405   ok    ok
admin:logout                    POST  ok    ok    ok    ok    ok    ok    ok    login ok    ok
admin:password_change           ALL   login login login login login login login ok    login login
admin:password_change_done      GET   login login login login login login login ok    login login
admin:password_change_done      POST  login login login login login login login 405   login login
admin:autocomplete              GET   login login login login login login login ok    login login
admin:autocomplete              POST  login login login login login login login 405   login login
admin:jsi18n                    GET   login login login login login login login ok    login login
admin:jsi18n                    POST  login login login login login login login 405   login login
admin:view_on_site              ALL   login login login login login login login 404   login login
admin:auth_user_password_change ALL   login login login login login login login ok    login login
admin:app_list                  ALL   login login login login login login login ok    login login
admin:<model>                   ALL   login login login login login login login ok    login login
admin:<model:no-add>            ALL   login login login login login login login 403   login login
admin:(?P<url>.*)$              ALL   login login login login login login login 404   login login
"""

# One row per socket role (connect:…) and per message type. Who sends a message uses the
# socket its browser would: the delegates' phone its delegate socket, HQ staff the HQ
# console, everyone else a site room page (`PRIMARY_SOCKET`). opB's connection is tried on
# a meeting site A is not invited to; its messages go over A's own room page and name
# site B wherever a message names a site.
# A site page shares its screen only while it holds the floor, which site A never does
# here (HQ's cells give the floor to site B), so screen.set is refused to it as to others.
# Codes: NA not_allowed, NL not_live, NI not_invited; closed: the socket is refused.
WS_TABLE = """
# type             anon   dlink  dacct  opB    opA    hq     chair  admin  off    rvk
connect:hq         closed closed closed closed closed ok     ok     ok     closed closed
connect:site       closed closed closed closed ok     closed closed closed closed closed
connect:delegate   closed ok     closed closed closed closed closed closed closed closed
snapshot           closed ok     closed ok     ok     ok     ok     ok     closed closed
ping               closed ok     closed ok     ok     ok     ok     ok     closed closed
floor.request      closed NA     closed ok     ok     ok     ok     ok     closed closed
floor.cancel       closed NA     closed ok     ok     ok     ok     ok     closed closed
floor.grant        closed NA     closed NA     NA     ok     ok     ok     closed closed
floor.decline      closed NA     closed NA     NA     ok     ok     ok     closed closed
floor.take_back    closed NA     closed NA     NA     ok     ok     ok     closed closed
mute               closed NA     closed NA     NA     ok     ok     ok     closed closed
mute.all           closed NA     closed NA     NA     ok     ok     ok     closed closed
main_source.set    closed NA     closed NA     NA     ok     ok     ok     closed closed
screen.set         closed NA     closed NA     NA     ok     ok     ok     closed closed
roll_call.open     closed NA     closed NA     NA     ok     ok     ok     closed closed
roll_call.close    closed NA     closed NA     NA     ok     ok     ok     closed closed
roll_call.answer   closed NA     closed ok     ok     ok     ok     ok     closed closed
roll_call.confirm  closed NA     closed NA     NA     ok     ok     ok     closed closed
announce           closed NA     closed NA     NA     ok     ok     ok     closed closed
chat.send          closed NA     closed ok     ok     ok     ok     ok     closed closed
vote.open          closed NA     closed NA     NA     ok     ok     ok     closed closed
vote.cast          closed ok     closed ok     ok     ok     ok     ok     closed closed
vote.close         closed NA     closed NA     NA     ok     ok     ok     closed closed
media.access       closed NA     closed ok     ok     ok     ok     ok     closed closed
media.published    closed NA     closed ok     ok     ok     ok     ok     closed closed
quality            closed NA     closed ok     ok     ok     ok     ok     closed closed
media.status       closed NA     closed ok     ok     NA     NA     NA     closed closed
link.pin           closed NA     closed NA     NA     ok     ok     ok     closed closed
link.weak          closed NA     closed ok     ok     ok     ok     ok     closed closed
"""

WS_CODES = {"NA": NOT_ALLOWED, "NL": NOT_LIVE, "NI": NOT_INVITED}
PRIMARY_SOCKET = {
    "anon": "site",
    "dlink": "delegate",
    "dacct": "site",
    "opB": "site",
    "opA": "site",
    "hq": "hq",
    "chair": "hq",
    "admin": "hq",
    "off": "site",
    "rvk": "site",
}
# A well-formed request of each type (a malformed one is refused as bad_value before the
# role check). "TARGET" stands for site B: the other site for site A's operator, and for
# HQ a site whose state (floor, mutes, main source) no site-A cell depends on;
# "FIRST_OPTION" for the first of a vote's default options.
WS_BODIES: dict[str, dict[str, Any]] = {
    "floor.request": {"topic": "Ý kiến của điểm cầu"},
    "floor.grant": {"site": "TARGET"},
    "floor.decline": {"request": 2**31},
    "mute": {"site": "TARGET", "mute": True},
    "main_source.set": {"site": "TARGET"},
    "screen.set": {"sharing": False},
    "roll_call.answer": {"delegates": 3},
    "roll_call.confirm": {"site": "TARGET", "accept": False},
    "announce": {"text": ""},
    "chat.send": {"text": "Điểm cầu đã sẵn sàng"},
    "vote.open": {"text": "Thông qua nghị quyết"},
    "vote.cast": {"choice": "FIRST_OPTION"},
    "quality": {"rtt": 40, "loss": 0, "kbps": 800},
    "link.pin": {"site": "TARGET", "layer": "low"},
    "link.weak": {"on": True},
    "media.status": {"camera": "ok", "microphone": "ok", "receive_only": False, "problem": None},
}
# Refusals that only come after the role check: the state of the moment, not who asks.
AFTER_THE_CHECK = {NOT_NOW, ALREADY_DONE, OVER_LIMIT}
# The types that ask Janus once the sender is checked (Janus is unreachable here).
ASK_JANUS = {"media.access", "media.published"}


def parse_http_table(text: str) -> dict[tuple[str, str], dict[str, str]]:
    table: dict[tuple[str, str], dict[str, str]] = {}
    for line in text.strip().splitlines():
        if line.startswith("#"):
            continue
        key, method, *answers = line.split()
        assert len(answers) == len(ACTORS), f"row {key} {method}: {len(answers)} answers"
        for m in ("GET", "POST") if method == "ALL" else (method,):
            assert (key, m) not in table, f"two rows for {key} {m}"
            table[key, m] = dict(zip(ACTORS, answers, strict=True))
    return table


def parse_ws_table(text: str) -> dict[str, dict[str, str]]:
    table: dict[str, dict[str, str]] = {}
    for line in text.strip().splitlines():
        if line.startswith("#"):
            continue
        key, *answers = line.split()
        assert len(answers) == len(ACTORS), f"row {key}: {len(answers)} answers"
        assert key not in table, f"two rows for {key}"
        table[key] = {a: WS_CODES.get(v, v) for a, v in zip(ACTORS, answers, strict=True)}
    return table


HTTP_EXPECTED = parse_http_table(HTTP_TABLE)
WS_EXPECTED = parse_ws_table(WS_TABLE)

# --- what the code has ----------------------------------------------------------------

MODEL_ADMIN = "admin:<model>"
MODEL_ADMIN_NO_ADD = "admin:<model:no-add>"
_SUPERUSER = RequestFactory().get("/")
_SUPERUSER.user = SimpleNamespace(  # type: ignore[assignment]
    is_active=True, is_staff=True, is_superuser=True, has_perm=lambda *_a, **_k: True
)


@dataclass(frozen=True)
class Pattern:
    """One URL pattern, with the chain of patterns that leads to it from the root."""

    key: str
    chain: tuple[Any, ...]  # RoutePattern / RegexPattern, outermost first
    callback: Callable[..., HttpResponse]
    model_admin: Any  # the ModelAdmin whose page this is, or None

    @property
    def model(self) -> type[Any] | None:
        return self.model_admin.model if self.model_admin is not None else None

    @property
    def row(self) -> str:
        if self.model_admin is None:
            return self.key
        if self.key.endswith("_add") and not self.model_admin.has_add_permission(_SUPERUSER):
            return MODEL_ADMIN_NO_ADD  # a log nobody adds to by hand
        return MODEL_ADMIN

    def url(self, values: dict[str, Any]) -> str:
        return "/" + "".join(_fill(part, values) for part in self.chain)


def _fill(part: Any, values: dict[str, Any]) -> str:
    text = str(part)
    converters = getattr(part, "converters", {})
    if isinstance(part, RoutePattern):
        return re.sub(
            r"<(?:[^>:]+:)?([^>]+)>",
            lambda m: str(converters[m.group(1)].to_url(values[m.group(1)])),
            text,
        )
    # A regex: each named group becomes its value; anchors go, escapes are undone.
    out, i = "", 0
    while i < len(text):
        if text.startswith("(?P<", i):
            name = text[i + 4 : text.index(">", i)]
            depth, j = 0, i
            while True:
                if text[j] == "\\":
                    j += 2
                    continue
                depth += {"(": 1, ")": -1}.get(text[j], 0)
                j += 1
                if depth == 0:
                    break
            out, i = out + str(values[name]), j
        else:
            out, i = out + text[i], i + 1
    return re.sub(r"\\(.)", r"\1", out.removeprefix("^").removesuffix("$"))


def url_patterns() -> list[Pattern]:
    found: list[Pattern] = []

    def walk(resolver: URLResolver, chain: tuple[Any, ...], namespace: str, start: int) -> None:
        # `start`: where the current namespace's routes begin in the chain.
        for entry in resolver.url_patterns:
            if isinstance(entry, URLResolver):
                inner = (*chain, entry.pattern)
                if entry.namespace:
                    ns = ":".join(n for n in (namespace, entry.namespace) if n)
                    walk(entry, inner, ns, len(inner))
                else:
                    walk(entry, inner, namespace, start)
            elif isinstance(entry, URLPattern):
                full = (*chain, entry.pattern)
                # An unnamed pattern is known by its route within its namespace.
                name = entry.name or "".join(str(p) for p in full[start:])
                key = f"{namespace}:{name}" if namespace else name
                found.append(
                    Pattern(key, full, entry.callback, getattr(entry.callback, "model_admin", None))
                )

    walk(get_resolver(), (), "", 0)
    return found


PATTERNS = url_patterns()


def consumer_message_types() -> set[str]:
    """HANDLERS' keys, and the types MeetingConsumer._handle handles itself (each compared
    with `kind` in its source)."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(consumers.MeetingConsumer._handle)))
    own = {
        comparator.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Compare)
        and isinstance(node.left, ast.Name)
        and node.left.id == "kind"
        for op, comparator in zip(node.ops, node.comparators, strict=True)
        if isinstance(op, ast.Eq)
        and isinstance(comparator, ast.Constant)
        and isinstance(comparator.value, str)
    }
    return own | set(consumers.HANDLERS)


def socket_roles() -> set[str]:
    """The socket roles the routing accepts: the alternatives of its `role` group."""
    roles: set[str] = set()
    for route in websocket_urlpatterns:
        match = re.search(r"\(\?P<role>([^)]*)\)", str(route.pattern))
        assert match, f"no role group in {route.pattern}"
        roles |= set(match.group(1).split("|"))
    return roles


MESSAGE_TYPES = sorted(consumer_message_types())
WS_ROWS = [f"connect:{role}" for role in sorted(socket_roles())] + MESSAGE_TYPES

# --- the seeded organisation ----------------------------------------------------------


@dataclass(frozen=True)
class Side:
    """The objects a column's URLs are filled with: site A's (or B's for opB)."""

    site: Site
    meeting: Meeting  # a live meeting the site is invited to (opB: one of B only)
    held: Meeting  # an ended meeting with finalised minutes (opB: one of B only)
    document: Document
    directive: Directive
    recipient: DirectiveRecipient  # the site's copy of a directive sent to A and B
    join_token: str  # of the site's invitation to the live meeting A and B share
    delegate_token: str


@dataclass
class World:
    main: Site
    site_a: Site
    site_b: Site
    live: Meeting  # invites A and B
    users: dict[str, User]
    cookies: dict[str, str | None]
    sides: dict[str, Side]
    uploads: list[str] = dataclasses.field(default_factory=list)

    def side(self, actor: str) -> Side:
        return self.sides.get(actor, self.sides["own"])


def _pdf() -> bytes:
    from reportlab.pdfgen import canvas

    out = io.BytesIO()
    page = canvas.Canvas(out)
    page.drawString(72, 720, "Nghi quyet")
    page.save()
    return out.getvalue()


def _login(user: User) -> Client:
    browser = Client()
    browser.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return browser


def _opened(browser: Client, path: str) -> str:
    response = browser.get(path)
    assert response.status_code == 200, f"{path}: {response.status_code}"
    return str(browser.cookies[settings.SESSION_COOKIE_NAME].value)


def _meeting(title: str, sites: set[Site], main: Site, *, live: bool) -> Meeting:
    start = timezone.now() + (timedelta(minutes=-5) if live else timedelta(days=1))
    meeting = meeting_services.save_meeting(
        Meeting(title=title, start=start, end=start + timedelta(hours=2), main_site=main),
        sites=sites,
        agenda=None,
        by=None,
    )
    if live:
        # Live with a room id: media.access gets as far as Janus (unreachable here).
        Meeting.objects.filter(pk=meeting.pk).update(
            status=MeetingStatus.LIVE,
            started_at=timezone.now(),
            janus_room=secrets.randbelow(2**40) + 1,
            janus_room_secret=secrets.token_urlsafe(16),
        )
        meeting.refresh_from_db()
    return meeting


def _held_of_b_only(main: Site, site_b: Site) -> Meeting:
    meeting = _meeting("Hội nghị của Dầu Tiếng (đã họp)", {site_b}, main, live=False)
    past = timezone.now() - timedelta(days=2)
    Meeting.objects.filter(pk=meeting.pk).update(
        status=MeetingStatus.ENDED, start=past, end=past + timedelta(hours=2), ended_at=past
    )
    meeting.refresh_from_db()
    return meeting


def _final_minutes(meeting: Meeting, by: User) -> None:
    minutes_services.finalise(minutes_services.current(meeting), by)


def _directive(title: str, sites: set[Site], meeting: Meeting | None) -> Directive:
    return directive_services.issue_directive(
        title=title,
        number="12/CĐCS",
        body="Các đơn vị triển khai trước 15/12.",
        upload=SimpleUploadedFile("nghi-quyet.pdf", _pdf(), content_type="application/pdf"),
        meeting=meeting,
        sites=sites,
        by=None,
    )


def _document(meeting: Meeting, by: User) -> Document:
    return meeting_services.add_document(
        meeting,
        SimpleUploadedFile("chuong-trinh.pdf", _pdf(), content_type="application/pdf"),
        "Chương trình",
        by,
    )


def build_world() -> World:
    hq_unit = Unit.objects.create(name="Công đoàn Cao su Việt Nam")
    corp = Unit.objects.create(name="Công đoàn Tổng công ty Cao su Đồng Nai", parent=hq_unit)
    # Few delegates: a voting-code sheet draws a QR code for each.
    main = Site.objects.create(
        code="HQ", name="Điểm cầu chính", unit=hq_unit, kind=SiteKind.MAIN, expected_delegates=4
    )
    site_a = Site.objects.create(
        code="CSDN", name="Cao su Đồng Nai", unit=corp, expected_delegates=3
    )
    site_b = Site.objects.create(
        code="CSDT", name="Cao su Dầu Tiếng", unit=hq_unit, expected_delegates=2
    )
    # Before any other meeting: the demo's held meeting invites every site there is.
    held = held_demo_meeting(main)

    def user(name: str, role: str, site: Site | None = None, **flags: bool) -> User:
        account = User(username=name, role=role, site=site, **flags)
        account.set_password(secrets.token_urlsafe(12))
        account.save()
        return account

    users = {
        "dacct": user("dai.bieu.csdn", Role.DELEGATE, site_a),
        "opA": user("ktv.csdn", Role.SITE_OPERATOR, site_a),
        "hq": user("ktv.hq", Role.HQ_OPERATOR),
        "chair": user("chu.tri", Role.CHAIR),
        "admin": user("quan.tri", Role.ADMIN, is_staff=True, is_superuser=True),
        "off": user("ktv2.csdn", Role.SITE_OPERATOR, site_a),
    }
    users["opB"] = users["opA"]
    Group.objects.create(name="Kỹ thuật")  # so the admin's group pages have an object

    live = _meeting("Hội nghị sơ kết quý", {site_a, site_b}, main, live=True)
    live_of_b = _meeting("Tập huấn của Dầu Tiếng", {site_b}, main, live=False)
    held_of_b = _held_of_b_only(main, site_b)
    for meeting in (held, held_of_b):
        _final_minutes(meeting, users["admin"])
    shared = _directive("Triển khai Nghị quyết", {site_a, site_b}, None)
    of_b = _directive("Công văn riêng Dầu Tiếng", {site_b}, None)

    invitation_a = live.invitations.select_related("site", "meeting").get(site=site_a)
    # The revoked link: a room PC opens A's room link, then HQ makes a new one. The new
    # nonce also replaces A's delegates' link, so everyone else opens the new ones below.
    old_join, old_delegate = (
        joinlinks.make_token(invitation_a),
        joinlinks.make_token(invitation_a, joinlinks.DELEGATE_SALT),
    )
    cookies: dict[str, str | None] = {
        "anon": None,
        "rvk": _opened(Client(), joinlinks.join_path(invitation_a)),
    }
    meeting_services.revoke_join_link(invitation_a)
    invitation_a = live.invitations.select_related("site", "meeting").get(site=site_a)
    invitation_b = live.invitations.select_related("site", "meeting").get(site=site_b)

    cookies["dlink"] = _opened(Client(), joinlinks.delegate_path(invitation_a))
    cookies["opA"] = _opened(_login(users["opA"]), joinlinks.join_path(invitation_a))
    cookies["opB"] = cookies["opA"]
    cookies["off"] = _opened(_login(users["off"]), joinlinks.join_path(invitation_a))
    # Disabled the way an admin does it (the model saved: whatever listens to that, runs).
    users["off"].is_active = False
    users["off"].save()
    for actor in ("dacct", "hq", "chair", "admin"):
        cookies[actor] = str(_login(users[actor]).cookies[settings.SESSION_COOKIE_NAME].value)

    def side(
        site: Site, invitation: Invitation, meeting: Meeting, held: Meeting, d: Directive
    ) -> Side:
        return Side(
            site=site,
            meeting=meeting,
            held=held,
            document=_document(meeting, users["hq"]),
            directive=d,
            recipient=shared.recipients.get(site=site),
            join_token=joinlinks.make_token(invitation),
            delegate_token=joinlinks.make_token(invitation, joinlinks.DELEGATE_SALT),
        )

    own = side(site_a, invitation_a, live, held, shared)
    sides = {
        "own": own,
        "opB": side(site_b, invitation_b, live_of_b, held_of_b, of_b),
        "rvk": dataclasses.replace(own, join_token=old_join, delegate_token=old_delegate),
    }
    return World(main, site_a, site_b, live, users, cookies, sides)


@pytest.fixture(autouse=True)
def _media_in_tmp() -> None:
    """Replaces the conftest's per-test media folder: the module's files live for it all."""


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def world(
    django_db_setup: None, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    """Built once for the module and committed (the sockets' database work runs on other
    threads); every cell's own changes are rolled back or harmless; flushed at the end."""
    folder = tmp_path_factory.mktemp("authz")
    overrides = override_settings(
        MEDIA_ROOT=folder / "files",
        # No Janus in unit tests: a port nothing listens on, refused at once.
        JANUS=dataclasses.replace(settings.JANUS, url=f"ws://127.0.0.1:{_closed_port()}"),
        # No local CA root: the public download pages answer their 404.
        FRONT=dataclasses.replace(settings.FRONT, folder=folder / "caddy"),
    )
    stored: list[str] = []
    with django_db_blocker.unblock():
        # `django_db_setup` sets the test database up because this module holds a test
        # marked for it (`test_the_world_is_built_in_the_test_database`); the cells are not
        # marked (a marked test runs in a transaction of the main thread, which the sockets'
        # threads would wait on).
        overrides.enable()
        try:
            built = build_world()
            stored = built.uploads
            yield built
        finally:
            for token in stored:
                uploads.discard(token)
            call_command("flush", interactive=False, verbosity=0)
            ContentType.objects.clear_cache()
            overrides.disable()


# --- HTTP -----------------------------------------------------------------------------

LOGIN_PATHS = {reverse("accounts:login"), reverse("admin:login")}
QUERIES = {"admin:autocomplete": "app_label=orgs&model_name=site&field_name=unit"}


def url_values(pattern: Pattern, world: World, actor: str) -> dict[str, Any]:
    """The concrete value of each of the pattern's parameters for this column."""
    s = world.side(actor)
    by_pattern: dict[str, Callable[[], dict[str, Any]]] = {
        "orgs:site_detail": lambda: {"code": s.site.code},
        "orgs:import_preview": lambda: {"token": _import_token(world, actor)},
        "orgs:import_confirm": lambda: {"token": _import_token(world, actor)},
        "meetings:detail": lambda: {"pk": s.meeting.pk},
        "meetings:edit": lambda: {"pk": s.meeting.pk},
        "meetings:document_upload": lambda: {"pk": s.meeting.pk},
        "meetings:document": lambda: {"pk": s.meeting.pk, "doc_id": s.document.pk},
        # A site's invitation in the meeting A and B share (opB: B's, on a page A sees).
        "meetings:ics": lambda: {"pk": world.live.pk, "site_code": s.site.code},
        "meetings:revoke": lambda: {"pk": world.live.pk, "site_code": s.site.code},
        "directives:directive": lambda: {"pk": s.directive.pk},
        "directives:directive_file": lambda: {"pk": s.directive.pk},
        "directives:directive_ack": lambda: {"pk": s.directive.pk},
        "directives:directive_remind": lambda: {"pk": s.directive.pk},
        "directives:directive_ack_room": lambda: {
            "meeting_id": world.live.pk,
            "pk": s.recipient.pk,
        },
        "directives:directive_file_room": lambda: {
            "meeting_id": world.live.pk,
            "pk": s.recipient.pk,
        },
        "live:join": lambda: {
            "meeting_id": world.live.pk,
            "site_code": s.site.code,
            "token": s.join_token,
        },
        "live:delegate": lambda: {
            "meeting_id": world.live.pk,
            "site_code": s.site.code,
            "token": s.delegate_token,
        },
        "live:console": lambda: {"pk": s.meeting.pk},
        "live:voting_codes_all": lambda: {"pk": s.meeting.pk},
        "live:voting_codes": lambda: {"pk": world.live.pk, "site_code": s.site.code},
        "live:voting_codes_add": lambda: {"pk": world.live.pk, "site_code": s.site.code},
        "live:voting_code_action": lambda: {
            "pk": world.live.pk,
            "site_code": s.site.code,
            "number": 1,
            "action": "revoke",
        },
        # Cancel: refused for a live meeting, but only once past the permission check.
        "live:meeting_action": lambda: {"pk": s.meeting.pk, "action": "cancel"},
        "reports:meeting": lambda: {"pk": s.held.pk},
        "reports:meeting_xlsx": lambda: {"pk": s.held.pk},
        "reports:meeting_pdf": lambda: {"pk": s.held.pk},
        "reports:site_attendance": lambda: {"code": s.site.code},
        "minutes:edit": lambda: {"meeting_id": s.held.pk},
        "minutes:action": lambda: {"meeting_id": s.held.pk, "action": "finalise"},
        "minutes:download": lambda: {"meeting_id": s.held.pk, "version": 1, "fmt": "pdf"},
        "admin:app_list": lambda: {"app_label": "orgs"},
        "admin:view_on_site": lambda: {
            "content_type_id": ContentType.objects.get_for_model(Meeting).pk,
            "object_id": s.meeting.pk,
        },
        "admin:auth_user_password_change": lambda: {"id": world.users["dacct"].pk},
        "admin:(?P<url>.*)$": lambda: {"url": "no-such-page/"},
    }
    if pattern.model is not None:
        first = pattern.model._default_manager.order_by("pk").first()
        return {"object_id": first.pk if first is not None else 0}
    values = by_pattern.get(pattern.key)
    parameters = _parameters(pattern)
    if values is None:
        if parameters:
            pytest.fail(f"add URL values for {pattern.key} ({', '.join(sorted(parameters))})")
        return {}
    filled = values()
    assert set(filled) == parameters, f"{pattern.key}: values for {sorted(parameters)}"
    return filled


def _parameters(pattern: Pattern) -> set[str]:
    return {name for part in pattern.chain for name in part.regex.groupindex}


def _import_token(world: World, actor: str) -> str:
    """A stored upload of this actor's own (an upload is bound to who made it)."""
    owner = world.users.get(actor) or world.users["hq"]
    csv = (
        "code,name,unit,parent_unit,kind,province,country,latitude,longitude,"
        "expected_delegates\n"
        "NT01,Nông trường 1,Công đoàn Cao su Việt Nam,,branch,Bình Phước,VN,11.6,106.9,12\n"
    )
    token = uploads.store(SimpleUploadedFile("sites.csv", csv.encode()), owner.pk)
    world.uploads.append(token)
    return token


def http_answer(response: HttpResponseBase) -> str:
    status = response.status_code
    if 300 <= status < 400:
        return "login" if urlsplit(response["Location"]).path in LOGIN_PATHS else "ok"
    if 200 <= status < 300:
        return "ok"
    return str(status)


def _http_cells() -> Iterator[Any]:
    for pattern in PATTERNS:
        for method in ("GET", "POST"):
            for actor in ACTORS:
                yield pytest.param(pattern, method, actor, id=f"{pattern.key}-{method}-{actor}")


@pytest.mark.django_db
def test_the_world_is_built_in_the_test_database() -> None:
    """Holds the module's claim on the test database: without one marked test pytest-django
    sets none up and the cells would find no tables (or, worse, another database)."""
    assert Path(str(connection.settings_dict["NAME"])).name.startswith("test")


@pytest.mark.parametrize(("pattern", "method", "actor"), list(_http_cells()))
def test_url_pattern_answers_each_role_as_the_table_says(
    world: World, pattern: Pattern, method: str, actor: str
) -> None:
    row = HTTP_EXPECTED.get((pattern.key, method)) or HTTP_EXPECTED.get((pattern.row, method))
    if row is None:
        pytest.fail(f"add a row for {pattern.row} {method} to HTTP_TABLE")
    url = pattern.url(url_values(pattern, world, actor))
    match = resolve(url)
    assert match.func == pattern.callback, f"{url} resolves to {match.view_name}, not {pattern.key}"
    if pattern.key in QUERIES:
        url += "?" + QUERIES[pattern.key]
    browser = Client(raise_request_exception=False)
    cookie = world.cookies[actor]
    if cookie is not None:
        browser.cookies[settings.SESSION_COOKIE_NAME] = cookie
    with transaction.atomic():
        response = browser.generic(method, url)
        transaction.set_rollback(True)
    got = http_answer(response)
    where = response.get("Location", "")
    assert got == row[actor], (
        f"{pattern.key} {method} by {actor} ({url}): expected {row[actor]}, got {got} "
        f"({response.status_code}{' → ' + where if where else ''})"
    )


def test_the_http_table_has_no_row_for_a_pattern_that_is_gone() -> None:
    rows = {row for row, _method in HTTP_EXPECTED}
    present = {p.row for p in PATTERNS} | {p.key for p in PATTERNS}
    assert rows <= present, f"rows for patterns that no longer exist: {sorted(rows - present)}"


# --- WebSocket ------------------------------------------------------------------------

TIMEOUT = 10.0
_Communicator: Any = ApplicationCommunicator  # asgiref's testing module is untyped


class Socket:
    """The control socket through the real ASGI app (channels.testing needs daphne)."""

    def __init__(self, path: str, cookie: str | None) -> None:
        self.app = _Communicator(application, websocket_scope(path, cookie))
        self.closed: int | None = None

    async def output(self) -> dict[str, Any]:
        message: dict[str, Any] = await self.app.receive_output(TIMEOUT)
        if message["type"] == "websocket.close":
            self.closed = int(message.get("code", 1000))
        return message

    async def open(self) -> bool:
        """Connect; True once the first snapshot came, False if the server closed it."""
        await self.app.send_input({"type": "websocket.connect"})
        while self.closed is None:
            message = await self.output()
            if message["type"] == "websocket.send":
                if json.loads(message["text"]).get("type") == "snapshot":
                    return True
        return False

    async def ask(self, kind: str, body: dict[str, Any]) -> dict[str, Any] | None:
        """Send one request, then a snapshot request: the reply to the first, or None if
        the snapshot came back first (a type that has no reply)."""
        ref = secrets.token_hex(4)
        for message in ({**body, "type": kind, "ref": ref}, {"type": "snapshot"}):
            await self.app.send_input({"type": "websocket.receive", "text": json.dumps(message)})
        replies = 0
        while self.closed is None:
            output = await self.output()
            if output["type"] != "websocket.send":
                continue
            message = json.loads(output["text"])
            if message.get("ref") == ref:
                return message
            if message.get("type") == "snapshot":
                replies += 1
                if kind != "snapshot" or replies == 2:
                    return None
        return {"type": "closed", "code": self.closed}

    async def close(self) -> None:
        await self.app.send_input({"type": "websocket.disconnect", "code": 1000})
        await self.app.wait(TIMEOUT)


def _socket_path(world: World, actor: str, role: str, *, connecting: bool) -> str:
    # opB's connection is tried on a meeting of B only; its messages go over A's own page.
    meeting = world.sides["opB"].meeting if actor == "opB" and connecting else world.live
    return f"/ws/meetings/{meeting.pk}/{role}/"


def ws_answer(kind: str, reply: dict[str, Any] | None) -> str:
    if reply is None or reply.get("type") != "error":
        return "closed" if reply is not None and reply.get("type") == "closed" else "ok"
    code = str(reply.get("code"))
    if code in AFTER_THE_CHECK or (kind in ASK_JANUS and code == SERVER_ERROR):
        return "ok"
    return code


def _ws_cells() -> Iterator[Any]:
    for row in WS_ROWS:
        for actor in ACTORS:
            yield pytest.param(row, actor, id=f"{row}-{actor}")


def _body(kind: str, world: World) -> dict[str, Any]:
    with translation.override(settings.LANGUAGE_CODE):  # the sockets' language
        stand_ins = {"TARGET": world.site_b.pk, "FIRST_OPTION": live_services.default_options()[0]}
    return {k: stand_ins.get(v, v) for k, v in WS_BODIES.get(kind, {}).items()}


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize(("row", "actor"), list(_ws_cells()))
async def test_control_socket_answers_each_role_as_the_table_says(
    world: World, row: str, actor: str
) -> None:
    expected = WS_EXPECTED.get(row)
    if expected is None:
        pytest.fail(f"add a row for {row} to WS_TABLE")
    connecting = row.startswith("connect:")
    role = row.removeprefix("connect:") if connecting else PRIMARY_SOCKET[actor]
    sock = Socket(_socket_path(world, actor, role, connecting=connecting), world.cookies[actor])
    try:
        opened = await sock.open()
        if not opened:
            got, detail = "closed", f"close code {sock.closed}"
        elif connecting:
            got, detail = "ok", "connected"
        else:
            reply = await sock.ask(row, _body(row, world))
            got, detail = ws_answer(row, reply), json.dumps(reply, ensure_ascii=False)[:300]
    finally:
        if sock.closed is None:
            await sock.close()
    assert got == expected[actor], (
        f"{row} by {actor} on the {role} socket: expected {expected[actor]}, got {got} ({detail})"
    )


def test_the_socket_table_names_every_message_type_and_socket_role_and_nothing_else() -> None:
    assert set(WS_EXPECTED) == set(WS_ROWS), (
        f"add rows for {sorted(set(WS_ROWS) - set(WS_EXPECTED))}; "
        f"rows for what no longer exists: {sorted(set(WS_EXPECTED) - set(WS_ROWS))}"
    )
    for named in (set(WS_BODIES), ASK_JANUS):
        assert named <= set(MESSAGE_TYPES), (
            f"no such message type: {sorted(named - set(MESSAGE_TYPES))}"
        )
    answers = {v for row in WS_EXPECTED.values() for v in row.values()}
    assert answers <= {"ok", "closed", *CODES}, sorted(answers - {"ok", "closed", *CODES})


def test_the_tables_name_every_role_once() -> None:
    assert len(set(ACTORS)) == len(ACTORS)
    assert set(PRIMARY_SOCKET) == set(ACTORS)
    assert set(PRIMARY_SOCKET.values()) <= socket_roles()
    http_answers = {v for row in HTTP_EXPECTED.values() for v in row.values()}
    assert http_answers <= {"ok", "login", "403", "404", "405"}, http_answers
