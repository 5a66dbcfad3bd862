"""Sites on other hosts: the server and each site in network namespaces of their own, joined
by one bridge (tests/netbed), Chromium running inside each site's namespace, over HTTPS and
`wss:` with the local CA trusted through each browser's own NSS database.

  server 10.77.0.1   Caddy :443/:80, the app and Janus's WebSocket on its loopback, Janus ICE
  HQ     .11         the chair's console, on a PC without a camera
  A, B   .12, .13    room PCs with (fake) camera and microphone
  C      .14         a room PC with no camera and no microphone at all
  D      .15         a room PC behind firewalls: all UDP dropped and TCP only to 443/5349
                     (joins through TURN over TLS), then only Janus's media ports blocked
                     (TURN over UDP), then TURN blocked too (told why)
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import CHROMIUM_ARGS, log_in
from tests.e2e.test_live_meeting import frames_advance, state, wait_until
from tests.netbed import Host, NetBed, chromium_wrapper, netbed_available, trust_ca
from tests.support.serveprocess import ServeProcess

pytestmark = pytest.mark.netbed

# Room PCs' browsers: the same as the same-machine tests, but a site without devices gets no
# fake ones (a real PC with no camera and no microphone).
NO_DEVICES_ARGS = [a for a in CHROMIUM_ARGS if a != "--use-fake-device-for-media-stream"]

LINKS = """
import json
from datetime import timedelta
from django.utils import timezone
from diemcau.meetings.models import Meeting
from diemcau.meetings.services import invited_sites, save_meeting
from diemcau.orgs.models import Site
from diemcau.meetings.joinlinks import join_path
start = timezone.now()
m = save_meeting(Meeting(title='Hội nghị nhiều máy', start=start, end=start + timedelta(hours=2),
                         main_site=Site.objects.get(kind='main')),
                 sites=invited_sites(all_sites=True), agenda=None, by=None)
codes = {'A': 'CSDN', 'B': 'CSDT', 'C': 'CSBL', 'D': 'CSQT', 'E': 'CSSL'}
print(json.dumps({'meeting': m.pk,
                  'links': {k: join_path(m.invitations.get(site__code=c)) for k, c in codes.items()},
                  'sites': {k: m.invitations.get(site__code=c).site_id for k, c in codes.items()}}))
"""


@dataclass
class Bed:
    net: NetBed
    server: ServeProcess
    data_dir: Path
    passwords: dict[str, str]
    meeting: int = 0
    links: dict[str, str] = field(default_factory=dict)
    sites: dict[str, int] = field(default_factory=dict)
    browsers: dict[str, Any] = field(default_factory=dict)
    pages: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.server.url

    def manage(self, *args: str) -> str:
        return subprocess.run(
            [sys.executable, "-m", "diemcau", *args],
            env=self.server.env,
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        ).stdout


def _server_answers(host: Host, server: ServeProcess) -> Callable[[], bool]:
    """The readiness check, run where the server is (another host)."""

    def check() -> bool:
        if not server.ca_file.is_file():
            return False
        result = host.run(
            "curl",
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "2",
            "--cacert",
            str(server.ca_file),
            f"{server.url}/accounts/login/",
            check=False,
            timeout=5,
        )
        return result.stdout.strip() == "200"

    return check


@pytest.fixture(scope="module")
def bed(tmp_path_factory: pytest.TempPathFactory, playwright: Any) -> Iterator[Bed]:
    problem = netbed_available()
    if problem:
        pytest.fail(f"the multi-host test bed cannot be built here: {problem}")
    data_dir = tmp_path_factory.mktemp("netbed-data")
    with NetBed(["HQ", "A", "B", "C", "D"]) as net:
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE", "REDIS_URL")
        }
        env.update(
            DIEMCAU_DATA_DIR=str(data_dir),
            # The server's own namespace: the real ports.
            DIEMCAU_MEDIA_IP=net.server.ip,
            DIEMCAU_RTP_PORTS="40000-40999",
            PYTHONUNBUFFERED="1",
        )
        server = ServeProcess(8000, env, data_dir, host=net.server.ip)
        server.argv_prefix = net.server.wrap([])
        b = Bed(net=net, server=server, data_dir=data_dir, passwords={})
        b.manage("migrate", "--noinput", "-v", "0")
        demo = b.manage("demo")
        for name, password in re.findall(r"^\s+(\S+)\s+(\S+)\s+.+$", demo, flags=re.M):
            b.passwords[name] = password
        server.start(ready=_server_answers(net.server, server))
        links = json.loads(b.manage("shell", "-c", LINKS).strip().splitlines()[-1])
        b.meeting, b.links, b.sites = links["meeting"], links["links"], links["sites"]
        try:
            yield b
        finally:
            for browser in b.browsers.values():
                browser.close()
            server.stop(timeout=15)


def launch(
    bed: Bed, playwright: Any, where: str, *, trusted: bool = True, devices: bool = True
) -> Any:
    """Chromium inside host `where`'s namespace, trusting the local CA (or not)."""
    host = bed.net.sites[where]
    folder = bed.data_dir.parent / f"browser-{where}-{'t' if trusted else 'u'}"
    folder.mkdir(exist_ok=True)
    home = folder / "home"
    home.mkdir(exist_ok=True)
    if trusted:
        trust_ca(home, bed.server.ca_file)
    wrapper = chromium_wrapper(host, folder, home=home)
    browser = playwright.chromium.launch(
        executable_path=str(wrapper),
        headless=True,
        args=CHROMIUM_ARGS if devices else NO_DEVICES_ARGS,
    )
    bed.browsers[f"{where}-{len(bed.browsers)}"] = browser
    return browser


def snap(page: Any, name: str) -> None:
    """Keep a picture of the page when DIEMCAU_TEST_SHOTS names a folder (for people)."""
    folder = os.environ.get("DIEMCAU_TEST_SHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"))


def new_page(browser: Any) -> Any:
    return browser.new_context(viewport={"width": 1400, "height": 900}, locale="vi-VN").new_page()


@pytest.fixture(scope="module")
def meeting(bed: Bed, playwright: Any) -> Bed:
    """HQ (no camera) starts the meeting; A and B join with camera, C without any device."""
    hq = new_page(launch(bed, playwright, "HQ", devices=False))
    log_in(hq, bed.url, "chutri", bed.passwords["chutri"])
    hq.goto(f"{bed.url}/live/{bed.meeting}/console/")
    hq.locator("#start-form button").click()
    hq.wait_for_selector("#meeting-status.live")
    bed.pages["HQ"] = hq
    for name, devices in (("A", True), ("B", True), ("C", False)):
        page = new_page(launch(bed, playwright, name, devices=devices))
        page.goto(bed.url + bed.links[name])
        bed.pages[name] = page
    for name in ("A", "B"):
        bed.pages[name].wait_for_selector("#media-status.good", timeout=30000)
    return bed


def test_only_https_and_http_are_reachable_from_a_site(bed: Bed) -> None:
    site = bed.net.sites["A"]
    server = bed.net.server.ip
    assert site.can_connect_tcp(server, 443)
    assert site.can_connect_tcp(server, 80)
    # The app and Janus's WebSocket listen on the server's loopback only.
    assert not site.can_connect_tcp(server, 8000)
    assert not site.can_connect_tcp(server, 8188)


def test_a_join_link_over_plain_http_is_explained_and_its_token_never_used(bed: Bed) -> None:
    site = bed.net.sites["A"]
    url = f"http://{bed.net.server.ip}{bed.links['A']}"
    result = site.run("curl", "-s", "-i", "--max-time", "5", url)
    head, _, body = result.stdout.partition("\n\n")  # text mode: \r\n became \n
    assert head.startswith("HTTP/1.1 200")
    assert "sessionid" not in head.lower()  # no session: the token was not honoured
    assert "/ca/" in body
    assert f"https://{bed.net.server.ip}{bed.links['A']}" in body


def test_http_join_link_continues_to_https_once_the_browser_trusts_the_ca(
    bed: Bed, playwright: Any
) -> None:
    meeting = bed
    page = new_page(launch(bed, playwright, "A"))
    page.goto(f"http://{meeting.net.server.ip}{meeting.links['A']}")
    page.wait_for_url(f"https://{meeting.net.server.ip}{meeting.links['A']}", timeout=15000)
    page.wait_for_selector("#meeting-status")
    page.context.close()


def test_a_pc_that_does_not_trust_the_ca_installs_it_from_ca_and_then_joins_with_camera(
    meeting: Bed, playwright: Any
) -> None:
    browser = launch(meeting, playwright, "B", trusted=False)
    page = new_page(browser)
    page.goto(f"http://{meeting.net.server.ip}{meeting.links['E']}")
    # The trust check fails: the page stays and explains, pointing at /ca/.
    page.wait_for_timeout(3000)
    assert page.url.startswith("http://")
    link = page.locator("a[href$='/ca/']").first
    assert link.is_visible()
    link.click()
    snap(page, "continue-untrusted")
    page.wait_for_url("**/ca/")
    snap(page, "ca-page")
    fingerprint = (
        meeting.manage(
            "shell",
            "-c",
            "from django.conf import settings; from diemcau.front import certs;"
            "print(certs.load_root(settings.FRONT.ca_root).sha256)",
        )
        .strip()
        .splitlines()[-1]
    )
    assert fingerprint in page.inner_text("body")
    with page.expect_download() as download:
        page.click("a[href$='.crt']")
    saved = meeting.data_dir.parent / "diemcau-ca.crt"
    download.value.save_as(saved)
    assert saved.read_bytes() == meeting.server.ca_file.read_bytes()
    # Its own certificate warning is the browser's, and we do not bypass it.
    with pytest.raises(Exception, match="ERR_CERT"):
        page.goto(meeting.url + meeting.links["E"])
    page.context.close()
    # The IT officer installs the downloaded file as /ca/ says (Ubuntu/Chromium: certutil into
    # the browser's NSS store); the same PC then joins with camera and microphone.
    home = meeting.data_dir.parent / "browser-E-installed" / "home"
    home.mkdir(parents=True, exist_ok=True)
    trust_ca(home, saved)
    wrapper = chromium_wrapper(meeting.net.sites["B"], home.parent, home=home)
    browser = playwright.chromium.launch(
        executable_path=str(wrapper), headless=True, args=CHROMIUM_ARGS
    )
    meeting.browsers["E-installed"] = browser
    room = new_page(browser)
    room.goto(meeting.url + meeting.links["E"])
    room.wait_for_selector("#media-status.good", timeout=30000)
    assert room.evaluate("window.isSecureContext")
    room.context.close()


def test_roll_call_across_hosts_counts_a_site_without_devices(meeting: Bed) -> None:
    hq, a, b, c = (meeting.pages[k] for k in ("HQ", "A", "B", "C"))
    # C has no camera and no microphone: it goes receive-only and says so, HQ's tile too.
    c.wait_for_selector("#media-problem[data-code='no-devices']", timeout=30000)
    tile_c = f".tile[data-site='{meeting.sites['C']}'] [data-media]"
    wait_until(
        lambda: hq.get_attribute(tile_c, "data-media") == "receive-only",
        timeout=20,
        what="HQ's tile of C says receive-only",
    )
    # HQ has no camera either: no pile of error toasts, the chair runs the meeting.
    assert hq.locator(".toast.error").count() == 0
    snap(c, "site-no-devices")
    hq.click("#roll-open")
    for page, count in ((a, 27), (b, 31), (c, 12)):
        page.wait_for_selector("#rollcall:not([hidden])")
        page.fill("#rollcall-count", str(count))
        page.click("#rollcall-send")
    wait_until(lambda: state(hq)["roll_call"]["totals"]["sites_present"] == 3, what="3 sites")
    assert state(hq)["roll_call"]["totals"]["delegates_present"] == 70


def test_floor_to_a_is_seen_and_heard_at_b_and_c_across_hosts(meeting: Bed) -> None:
    hq, a, b, c = (meeting.pages[k] for k in ("HQ", "A", "B", "C"))
    a.fill("#floor-topic", "Báo cáo từ Đồng Nai")
    a.click("#floor-request-btn")
    hq.wait_for_selector("#queue li .grant")
    hq.click("#queue li .grant")
    feed_a = str(meeting.sites["A"] * 10 + 1)
    for page in (b, c):  # C receives although it sends nothing
        wait_until(partial(shows_feed, page, "#floor-video", feed_a), what="A beside main")
        wait_until(partial(frames_advance, page, "#floor-video"), what="A's picture moves")
        wait_until(partial(audio_arrives, page), what="A's sound arrives")


def test_main_source_switched_to_b_shows_on_a_across_hosts(meeting: Bed) -> None:
    hq, a = meeting.pages["HQ"], meeting.pages["A"]
    hq.select_option("#main-source", value=str(meeting.sites["B"]))
    hq.click("#main-source-form button[type=submit]")
    feed_b = str(meeting.sites["B"] * 10 + 1)
    wait_until(lambda: a.get_attribute("#main-video", "data-feed") == feed_b, what="B main on A")
    wait_until(lambda: frames_advance(a, "#main-video"), what="B's picture moves at A")


def test_a_site_without_devices_votes(meeting: Bed) -> None:
    hq, c = meeting.pages["HQ"], meeting.pages["C"]
    hq.fill("#vote-text", "Thông qua nghị quyết")
    hq.fill("#vote-quorum", "0")
    hq.click("#vote-form button[type=submit]")
    c.wait_for_selector("#vote-choices button")
    c.click("#vote-choices button >> nth=0")
    wait_until(lambda: state(hq)["vote"]["result"]["cast"] == 1, what="C's ballot counted")
    hq.click("#vote-close")


def test_a_site_that_can_reach_only_tcp_joins_through_turn_over_tls(
    meeting: Bed, playwright: Any
) -> None:
    """A firewall that drops all UDP and lets TCP out only to 443 and 5349 (TURN/TLS)."""
    site, server = meeting.net.sites["D"], meeting.net.server.ip
    site.block_udp()
    site.block_ports(to=server, proto="tcp", ports="3478")
    assert not site.can_connect_tcp(server, 3478)
    assert site.can_connect_tcp(server, 5349)
    page = new_page(launch(meeting, playwright, "D"))
    page.goto(meeting.url + meeting.links["D"])
    page.wait_for_selector("#meeting-status")
    started = time.monotonic()
    page.wait_for_selector("#media-status.good", timeout=20000)
    took = time.monotonic() - started
    print(f"TURN/TLS: sending picture and sound {took:.1f} s after the page loaded")
    assert took < 10, f"joined through TURN/TLS only after {took:.1f} s"
    assert relay_protocols(page, "pub") == {"tls"}
    hq, a, b = meeting.pages["HQ"], meeting.pages["A"], meeting.pages["B"]
    # D's picture and sound reach HQ and the other sites: D takes the floor.
    page.fill("#floor-topic", "Ý kiến từ Quảng Trị")
    page.click("#floor-request-btn")
    hq.wait_for_selector("#queue li .grant")
    hq.click("#queue li .grant")
    feed_d = str(meeting.sites["D"] * 10 + 1)
    wait_until(partial(shows_feed, b, "#floor-video", feed_d), what="D beside main at B")
    wait_until(partial(frames_advance, b, "#floor-video"), what="D's picture moves at B")
    wait_until(partial(audio_arrives, b), what="D's sound arrives at B")
    tile_d = f".tile[data-site='{meeting.sites['D']}'] video"
    wait_until(partial(frames_advance, hq, tile_d), what="D's picture moves on HQ's wall")
    # And theirs reach D, through the relay as well: the main source, then A on the floor.
    wait_until(partial(frames_advance, page, "#main-video"), what="the main source moves at D")
    a.fill("#floor-topic", "Đồng Nai bổ sung")
    a.click("#floor-request-btn")
    hq.wait_for_selector("#queue li .grant")
    hq.click("#queue li .grant")
    feed_a = str(meeting.sites["A"] * 10 + 1)
    wait_until(partial(shows_feed, page, "#floor-video", feed_a), what="A beside main at D")
    wait_until(partial(frames_advance, page, "#floor-video"), what="A's picture moves at D")
    wait_until(partial(audio_arrives, page), what="A's sound arrives at D")
    assert relay_protocols(page, "sub") == {"tls"}
    snap(page, "site-turn-tls")
    hq.click("#take-back")
    page.context.close()
    site.restore()


def test_a_site_whose_media_ports_are_blocked_relays_over_turn_udp(
    meeting: Bed, playwright: Any
) -> None:
    site, server = meeting.net.sites["D"], meeting.net.server.ip
    site.block_ports(to=server, proto="udp", ports="40000-40999")
    page = new_page(launch(meeting, playwright, "D"))
    page.goto(meeting.url + meeting.links["D"])
    page.wait_for_selector("#media-status.good", timeout=20000)
    assert relay_protocols(page, "pub") == {"udp"}
    wait_until(partial(frames_advance, page, "#main-video"), what="the main source moves at D")
    page.context.close()
    site.restore()


def test_a_site_whose_udp_and_turn_are_blocked_is_told_so_and_hq_sees_it(
    meeting: Bed, playwright: Any
) -> None:
    site, server = meeting.net.sites["D"], meeting.net.server.ip
    site.block_udp(to=server)
    site.block_ports(to=server, proto="tcp", ports="3478")
    site.block_ports(to=server, proto="tcp", ports="5349")
    page = new_page(launch(meeting, playwright, "D"))
    started = time.monotonic()
    page.goto(meeting.url + meeting.links["D"])
    page.wait_for_selector("#media-problem[data-code='ice']", timeout=20000)
    took = time.monotonic() - started
    assert took < 20, f"the explanation came after {took:.1f} s"
    print(f"UDP and TURN blocked explained after {took:.1f} s")
    text = page.inner_text("#media-problem")
    # What to open: UDP to the media ports, or else TCP to the relay's ports.
    assert "UDP" in text and "40000-40999" in text and "3478, 5349" in text
    # The header badge says it too, readably (never a blank badge).
    badge = page.locator("#media-status")
    assert "UDP" in badge.inner_text()
    colours = badge.evaluate(
        "e => [getComputedStyle(e).color, getComputedStyle(e).backgroundColor]"
    )
    assert colours[0] != colours[1], colours
    snap(page, "site-udp-blocked")
    hq = meeting.pages["HQ"]
    tile_d = f".tile[data-site='{meeting.sites['D']}'] [data-media]"
    wait_until(
        lambda: hq.get_attribute(tile_d, "data-media") == "ice",
        timeout=15,
        what="HQ's tile of D says UDP is blocked",
    )
    snap(hq, "hq-console")
    site.restore()
    page.context.close()


# The transport between the browser and TURN of each selected candidate pair that relays
# ("udp", "tcp", "tls"), or "host"/"srflx"/"prflx" for a pair that does not.
RELAY_PROTOCOLS = """async (which) => { const pc = window.diemcau.media?.[which]?.webrtcStuff?.pc;
  if (!pc) return []; const stats = await pc.getStats(); const out = [];
  stats.forEach(r => { if (r.type === 'transport' && r.selectedCandidatePairId) {
    const pair = stats.get(r.selectedCandidatePairId); const local = stats.get(pair.localCandidateId);
    out.push(local.candidateType === 'relay' ? local.relayProtocol : local.candidateType); } });
  return out; }"""


def relay_protocols(page: Any, which: str) -> set[str]:
    found: list[str] = []

    def selected() -> bool:
        found[:] = page.evaluate(RELAY_PROTOCOLS, which)
        return bool(found)

    wait_until(selected, timeout=10, what=f"a selected candidate pair on {which}")
    return set(found)


AUDIO_IN = """async (sel) => { const v = document.querySelector(sel); const s = v && v.srcObject;
  const pc = window.diemcau.media?.sub?.webrtcStuff?.pc; if (!s || !pc) return 0;
  const t = s.getAudioTracks()[0]; if (!t) return 0; let n = 0;
  (await pc.getStats(t)).forEach(r => { if (r.type === 'inbound-rtp') n += r.packetsReceived; });
  return n; }"""


def shows_feed(page: Any, selector: str, feed: str) -> bool:
    return bool(page.get_attribute(selector, "data-feed") == feed)


def audio_arrives(page: Any) -> bool:
    first = page.evaluate(AUDIO_IN, "#floor-video")
    page.wait_for_timeout(600)
    return bool(page.evaluate(AUDIO_IN, "#floor-video") > first > 0)
