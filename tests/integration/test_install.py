"""`make install` for real on this machine (root): a second run changes nothing, the data
folder and the settings are private, an admin's settings are kept, the unit passes
`systemd-analyze verify`, the installed `diemcau serve` runs under the unit's sandbox in the
test bed's server namespace and serves a site on another host over HTTPS (pages and Janus's
WebSocket) and stops its children in order, and `make uninstall` keeps the data.

There is no systemd as PID 1 here, so the unit's settings are applied by hand where they
matter to what serve does (``sandboxed``): the user, the capability Caddy needs for 443/80,
no new privileges, the read-only system with only the data folder writable, a private /tmp,
no home folders. What the seccomp settings allow (``RestrictAddressFamilies``,
``SystemCallFilter``) is checked against what serve, Janus, Caddy and coturn really call,
traced with strace.

It creates the ``diemcau`` user, /opt/diemcau, /var/lib/diemcau, /etc/diemcau and the
PostgreSQL role and database ``diemcau``; uninstalling at the end keeps the last four (as an
admin's uninstall does).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.netbed import Host, NetBed, netbed_available, netns_pids

pytestmark = pytest.mark.netbed

REPO = Path(__file__).resolve().parents[2]
PREFIX = Path("/opt/diemcau")
DATA = Path("/var/lib/diemcau")
ETC = Path("/etc/diemcau")
ENV_FILE = ETC / "diemcau.env"
UNIT = Path("/etc/systemd/system/diemcau.service")
ADMIN_COMMAND = Path("/usr/local/sbin/diemcau")
ENABLED = Path("/etc/systemd/system/multi-user.target.wants/diemcau.service")
INSTALLED = (PREFIX, ETC, UNIT, ADMIN_COMMAND, DATA)
CA_ROOT = DATA / "caddy" / "storage" / "pki" / "authorities" / "local" / "root.crt"


# What `make install` reads from the checkout, copied once: a file someone saves in the
# checkout between two runs would rightly be installed by the second one.
CHECKOUT_PARTS = ("Makefile", "deploy", "pyproject.toml", "README.md", "src")


def snapshot(folder: Path) -> Path:
    tar = ["tar", "--exclude=__pycache__", "--exclude=*.pyc", "--exclude=*.egg-info"]
    packed = subprocess.run(
        [*tar, "-C", str(REPO), "-cf", "-", *CHECKOUT_PARTS], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-C", str(folder), "-xf", "-"], input=packed, check=True)
    return folder


def make(checkout: Path, target: str, *args: str) -> str:
    """`make TARGET` in ``checkout``; stdout and stderr together."""
    done = subprocess.run(
        ["make", "--no-print-directory", "-C", str(checkout), target, *args],
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"make {target} failed ({done.returncode}):\n{output}"
    return output


Entry = tuple[int, int, int, int, int, str]


def tree(*roots: Path) -> dict[str, Entry]:
    """Every file, folder and link under ``roots``: mode, owner, group, size, mtime, target."""
    found: dict[str, Entry] = {}

    def add(path: Path) -> None:
        st = path.lstat()
        target = os.readlink(path) if path.is_symlink() else ""
        found[str(path)] = (st.st_mode, st.st_uid, st.st_gid, st.st_size, st.st_mtime_ns, target)

    for root in roots:
        if not root.exists():
            continue
        add(root)
        for folder, dirs, files in os.walk(root):
            for name in dirs + files:
                add(Path(folder) / name)
    return found


def mode(path: Path) -> str:
    return oct(path.stat().st_mode & 0o7777)


def owner(path: Path) -> str:
    done = subprocess.run(["stat", "-c", "%U:%G", str(path)], capture_output=True, text=True)
    return done.stdout.strip()


def run_id(flag: str) -> str:
    """The service user's uid (-u) or gid (-g)."""
    return subprocess.run(
        ["id", flag, "diemcau"], capture_output=True, text=True, check=True
    ).stdout.strip()


def psql(query: str, database: str = "postgres") -> str:
    return subprocess.run(
        ["runuser", "-u", "postgres", "--", "psql", "-X", "-tA", "-d", database, "-c", query],
        capture_output=True,
        text=True,
        check=True,
        cwd="/",
    ).stdout.strip()


# --- the unit, read as systemd reads it (the parts used here) ----------------------------


@dataclass
class Unit:
    service: dict[str, list[str]]

    @classmethod
    def read(cls, path: Path) -> Unit:
        section, service = "", dict[str, list[str]]()
        for raw in path.read_text(encoding="utf-8").splitlines():
            line = raw.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("["):
                section = line
            elif section == "[Service]":
                key, _, value = line.partition("=")
                service.setdefault(key, []).append(value)
        return cls(service)

    def one(self, key: str) -> str:
        values = self.service.get(key, [])
        assert len(values) == 1, f"{key}= is set {len(values)} times in {UNIT}"
        return values[0]

    def words(self, key: str) -> list[str]:
        return [word for value in self.service.get(key, []) for word in value.split()]

    def environment(self) -> dict[str, str]:
        """Environment= and EnvironmentFile=, in systemd's order (the file wins)."""
        env = dict(word.split("=", 1) for word in self.words("Environment"))
        for name in self.service.get("EnvironmentFile", []):
            env.update(read_env_file(Path(name.lstrip("-"))))
        return env


def read_env_file(path: Path) -> dict[str, str]:
    values = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", line):
            name, value = line.split("=", 1)
            values[name] = value.strip().strip('"')
    return values


# The unit's file system and privilege settings, done by hand (see the module docstring):
# run as root inside a new mount namespace, then drops to the unit's user.
SANDBOX = r"""
set -eu
writable=$1 user=$2 caps=$3 nofile=$4 umask=$5 workdir=$6
shift 6
mount --make-rprivate /
# ProtectSystem=strict + ReadWritePaths=: everything read-only but the kernel's API file
# systems and the writable paths.
for path in $writable; do mount --bind "$path" "$path"; done
awk '{print $5}' /proc/self/mountinfo | sort -u | while read -r m; do
  m=$(printf '%b' "$m")
  case " $writable " in *" $m "*) continue ;; esac
  case "$m" in /proc | /proc/* | /sys | /sys/* | /dev | /dev/*) continue ;; esac
  mount -o remount,bind,ro "$m"
done
# PrivateTmp=, ProtectHome=
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /tmp
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /var/tmp
for d in /home /root /run/user; do [ ! -d "$d" ] || mount -t tmpfs -o ro,mode=000 tmpfs "$d"; done
# LimitNOFILE=, as far as this machine's hard limit goes (raising it needs CAP_SYS_RESOURCE,
# which root in a container may lack; systemd as PID 1 has it).
hard=$(ulimit -Hn)
[ "$hard" = unlimited ] || [ "$nofile" -le "$hard" ] || nofile=$hard
ulimit -n "$nofile"
umask "$umask"
cd "$workdir"
# User=, AmbientCapabilities=, CapabilityBoundingSet=, NoNewPrivileges=
exec setpriv --reuid="$user" --regid="$user" --init-groups \
  --inh-caps="-all,$caps" --ambient-caps="-all,$caps" --bounding-set="-all,$caps" \
  --no-new-privs -- "$@"
"""

# Where the service may write (ProtectSystem=strict, ReadWritePaths=, PrivateTmp=).
WRITABLE = {
    "/etc": False,
    "/usr": False,
    "/run": False,
    str(PREFIX): False,
    str(DATA): True,
    "/tmp": True,  # noqa: S108 - a private one (PrivateTmp=)
}
PROBE = """
import json, os, pathlib, sys
def writable(path):
    try:
        pathlib.Path(path, ".probe").touch(); pathlib.Path(path, ".probe").unlink(); return True
    except OSError:
        return False
status = dict(line.split(":", 1) for line in open("/proc/self/status"))
try:
    os.listdir("/root"); home = True
except OSError:
    home = False
print(json.dumps({
    "user": os.getuid(), "writable": {p: writable(p) for p in sys.argv[1:]}, "home_readable": home,
    "no_new_privs": status["NoNewPrivs"].strip(), "ambient": status["CapAmb"].strip(),
    "bounding": status["CapBnd"].strip()}))
"""


def sandboxed(unit: Unit, argv: list[str]) -> list[str]:
    assert unit.one("ProtectSystem") == "strict"
    assert unit.one("ProtectHome") == "yes" and unit.one("PrivateTmp") == "yes"
    assert unit.one("NoNewPrivileges") == "yes"
    caps = ",".join(
        "+" + cap.lower().removeprefix("cap_") for cap in unit.words("AmbientCapabilities")
    )
    assert unit.words("CapabilityBoundingSet") == unit.words("AmbientCapabilities")
    return [
        "unshare",
        "--mount",
        "sh",
        "-c",
        SANDBOX,
        "sandbox",
        " ".join(unit.words("ReadWritePaths")),
        unit.one("User"),
        caps,
        unit.one("LimitNOFILE"),
        unit.one("UMask"),
        unit.one("WorkingDirectory"),
        *argv,
    ]


# --- what strace saw, against the unit's seccomp settings ---------------------------------


def syscall_groups() -> dict[str, list[str]]:
    out = subprocess.run(
        ["systemd-analyze", "syscall-filter"], capture_output=True, text=True, check=True
    ).stdout
    groups: dict[str, list[str]] = {}
    current = ""
    for line in out.splitlines():
        if line.startswith("@"):
            current = line.strip()
            groups[current] = []
        elif current and line.strip() and not line.strip().startswith("#"):
            groups[current].append(line.strip())
    return groups


def allowed_syscalls(unit: Unit) -> set[str]:
    """SystemCallFilter=: the first list allows, each "~" list after it takes away."""
    groups = syscall_groups()

    def expand(name: str) -> set[str]:
        if not name.startswith("@"):
            return {name}
        return set().union(*(expand(member) for member in groups[name]))

    allowed: set[str] = set()
    for value in unit.service.get("SystemCallFilter", []):
        names = value.removeprefix("~").split()
        if value.startswith("~"):
            allowed -= set().union(*(expand(n) for n in names))
        else:
            allowed |= set().union(*(expand(n) for n in names))
    # Always allowed by systemd (systemd.exec(5)).
    return allowed | {"execve", "exit", "exit_group", "getrlimit", "rt_sigreturn", "sigreturn"}


@dataclass
class Trace:
    syscalls: set[str]
    families: set[str]
    programs: set[str]
    write_exec: list[str]


TRACE_LINE = re.compile(r"^\d+\s+(<\.\.\. )?([a-z_0-9]+)[( ]")


def read_trace(path: Path) -> Trace:
    trace = Trace(set(), set(), set(), [])
    for line in path.read_text(errors="replace").splitlines():
        match = TRACE_LINE.match(line)
        if match is None:
            continue
        name = match.group(2)
        trace.syscalls.add(name)
        if match.group(1):
            continue
        if name in ("socket", "socketpair"):
            family = re.search(r"\((\w+)", line)
            trace.families.add(family.group(1) if family else line)
        elif name == "execve":
            trace.programs.add(Path(line.split('"')[1]).name)
        elif name in ("mprotect", "pkey_mprotect") and "PROT_EXEC" in line:
            trace.write_exec.append(line)
        elif name == "mmap" and "PROT_EXEC" in line and "PROT_WRITE" in line:
            trace.write_exec.append(line)
    return trace


# --- the fixtures --------------------------------------------------------------------------


@dataclass
class Install:
    checkout: Path
    first: str
    second: str
    before: dict[str, Entry]
    after: dict[str, Entry]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Install]:
    problem = netbed_available()
    if problem:
        pytest.fail(f"the install test needs root and the test bed: {problem}")
    if Path("/run/systemd/system").is_dir():
        active = subprocess.run(["systemctl", "is-active", "-q", "diemcau.service"])
        if active.returncode == 0:
            pytest.fail(
                "diemcau.service is running here: this test would uninstall it "
                "(`make uninstall` first if it was left by an earlier run of this test)"
            )
    checkout = snapshot(tmp_path_factory.mktemp("checkout"))
    try:
        first = make(checkout, "install")
        before = tree(*INSTALLED)
        second = make(checkout, "install")
        yield Install(checkout, first, second, before, tree(*INSTALLED))
    finally:
        make(checkout, "uninstall")


def test_a_second_install_changes_nothing(installed: Install) -> None:
    assert installed.after == installed.before
    lines = installed.second.splitlines()
    assert not [line for line in lines if line.startswith("+ ")], installed.second
    assert "Điểm Cầu is already installed: nothing changed." in lines
    # What the first run changed depends on what an earlier run left (an uninstall keeps
    # the data folder, the settings and the database).
    assert re.search(r"^Điểm Cầu is (already )?installed", installed.first, re.M)


def test_the_data_folder_and_the_settings_are_private(installed: Install) -> None:
    assert (mode(DATA), owner(DATA)) == ("0o700", "diemcau:diemcau")
    assert (mode(ENV_FILE), owner(ENV_FILE)) == ("0o640", "root:diemcau")
    secrets = DATA / "secrets.json"  # written by the install's migrate, as the service user
    assert (mode(secrets), owner(secrets)) == ("0o600", "diemcau:diemcau")
    # The app is root's: the service cannot change its own code.
    assert owner(PREFIX / "venv" / "bin" / "diemcau") == "root:root"
    assert int(mode(PREFIX / "venv"), 8) & 0o022 == 0


def test_the_settings_use_postgresql_by_peer_authentication_and_redis(installed: Install) -> None:
    env = read_env_file(ENV_FILE)
    assert env["DIEMCAU_DATA_DIR"] == str(DATA)
    assert env["DATABASE_URL"] == "postgres://diemcau@%2Fvar%2Frun%2Fpostgresql/diemcau"
    assert env["REDIS_URL"] == "redis://127.0.0.1:6379/0"
    assert urlsplit(env["DATABASE_URL"]).password is None
    assert psql("SELECT rolpassword IS NULL FROM pg_authid WHERE rolname = 'diemcau'") == "t"
    owner_of_db = "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'diemcau'"
    assert psql(owner_of_db) == "diemcau"
    tables = "SELECT count(*) FROM pg_tables WHERE tableowner = 'diemcau'"
    assert psql(f"SELECT ({tables}) > 10", "diemcau") == "t"  # migrated, by the service's role


def test_the_unit_passes_systemd_analyze_verify(installed: Install) -> None:
    done = subprocess.run(
        ["systemd-analyze", "verify", str(UNIT)], capture_output=True, text=True, timeout=60
    )
    # Unknown or misspelt settings are only warnings: any output at all fails.
    assert (done.returncode, done.stdout + done.stderr) == (0, "")
    assert ENABLED.is_symlink() and ENABLED.resolve() == UNIT


def test_install_keeps_an_admins_settings_and_adds_only_missing_lines(
    installed: Install,
) -> None:
    original = ENV_FILE.read_bytes()
    env = original.decode()
    assert "\nDIEMCAU_DATA_DIR=/var/lib/diemcau\n" in env and "\nREDIS_URL=" in env
    edited = env.replace("\nDIEMCAU_DATA_DIR=/var/lib/diemcau\n", "\n")  # deleted: added back
    edited = edited.replace("\nREDIS_URL=", "\n# REDIS_URL=")  # the admin's choice: kept
    edited += "DIEMCAU_HOSTS=hop.local\n"
    try:
        ENV_FILE.write_text(edited)
        ENV_FILE.chmod(0o644)
        output = make(installed.checkout, "install", "DOMAIN=meet.example.org")
        after = ENV_FILE.read_text()
        assert after.startswith(edited)
        added = after.removeprefix(edited)
        assert re.findall(r"^\w+=.*$", added, re.M) == [
            "DIEMCAU_DATA_DIR=/var/lib/diemcau",
            "DIEMCAU_DOMAIN=meet.example.org",
        ]
        assert "+ added to /etc/diemcau/diemcau.env: DIEMCAU_DATA_DIR DIEMCAU_DOMAIN" in output
        assert mode(ENV_FILE) == "0o640"
        # Another name later is not forced over the admin's.
        output = make(installed.checkout, "install", "DOMAIN=other.example.org")
        assert "! DIEMCAU_DOMAIN is already set" in output
        assert ENV_FILE.read_text() == after
    finally:
        ENV_FILE.write_bytes(original)
        ENV_FILE.chmod(0o640)


# --- the installed serve, on the test bed's server --------------------------------------


def https_status(site: Host, url: str, ca: Path) -> str:
    done = site.run(
        "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "3",
        "--cacert", str(ca), url, check=False, timeout=10,
    )  # fmt: skip
    return done.stdout.strip()


JANUS_INFO = """
import asyncio, json, ssl, sys
import websockets
async def main():
    context = ssl.create_default_context(cafile=sys.argv[2])
    # As a page of the server's own origin does (the app's Janus gate checks it).
    origin = websockets.Origin(sys.argv[1].replace("wss://", "https://").rsplit("/", 1)[0])
    async with websockets.connect(sys.argv[1], ssl=context, origin=origin,
                                  subprotocols=[websockets.Subprotocol("janus-protocol")]) as ws:
        await ws.send(json.dumps({"janus": "info", "transaction": "t1"}))
        print(await asyncio.wait_for(ws.recv(), 5))
asyncio.run(main())
"""


def test_the_installed_serve_runs_in_the_units_sandbox_and_serves_a_site(
    installed: Install, tmp_path: Path
) -> None:
    unit = Unit.read(UNIT)
    env = {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin",  # systemd's for services
        **unit.environment(),
        # The machine's Redis listens on the root namespace's 127.0.0.1, which is not the
        # server namespace's loopback: this one process uses the in-memory channel layer.
        "REDIS_URL": "",
        # The namespace has no default route, so the media address cannot be found by a
        # route lookup as on a real server: name it.
        "DIEMCAU_MEDIA_IP": "10.77.0.1",
    }
    env_argv = ["/usr/bin/env", "-i", *(f"{k}={v}" for k, v in env.items())]
    trace_file = tmp_path / "serve.strace"
    log_file = tmp_path / "serve.log"
    ca = tmp_path / "ca.crt"
    with NetBed(["A"]) as bed, trace_file.open("w") as trace, log_file.open("w") as log:
        server, site = bed.server, bed.sites["A"]
        os.chown(trace_file, int(run_id("-u")), int(run_id("-g")))

        python = f"{PREFIX}/venv/bin/python"
        probe = server.run(
            *sandboxed(unit, [*env_argv, python, "-c", PROBE, *WRITABLE]), check=False
        )
        assert probe.returncode == 0, probe.stderr
        seen = json.loads(probe.stdout)
        assert seen == {
            "user": int(run_id("-u")),
            "writable": WRITABLE,
            "home_readable": False,
            "no_new_privs": "1",
            "ambient": "0000000000000400",  # CAP_NET_BIND_SERVICE only
            "bounding": "0000000000000400",
        }

        pre = server.run(
            *sandboxed(unit, [*env_argv, *unit.one("ExecStartPre").split()]), check=False
        )
        assert pre.returncode == 0, pre.stderr

        strace = ["strace", "-f", "-qq", "-s", "80", "-o", f"/proc/self/fd/{trace.fileno()}"]
        argv = sandboxed(unit, [*strace, *env_argv, *unit.one("ExecStart").split()])
        proc = subprocess.Popen(
            server.wrap(argv),
            stdout=log,
            stderr=subprocess.STDOUT,
            pass_fds=(trace.fileno(),),
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 60
            status = ""
            while status != "200":
                assert proc.poll() is None, log_file.read_text()
                assert time.monotonic() < deadline, log_file.read_text()
                time.sleep(0.5)
                # The local CA's root, over plain HTTP as a room PC gets it (/ca/).
                got = site.run(
                    "curl", "-s", "-f", "-o", str(ca), "--max-time", "2",
                    "http://10.77.0.1/ca/diemcau-ca.crt", check=False, timeout=10,
                )  # fmt: skip
                if got.returncode == 0:
                    status = https_status(site, "https://10.77.0.1/accounts/login/", ca)
            assert ca.read_bytes() == CA_ROOT.read_bytes()
            janus = site.run(
                sys.executable, "-c", JANUS_INFO, "wss://10.77.0.1/janus", str(ca), timeout=30
            )
            assert json.loads(janus.stdout)["janus"] == "server_info"
            # What the unit's stop does: its KillSignal to serve alone (KillMode=mixed; Janus,
            # Caddy and coturn run in sessions of their own). strace, in the same group,
            # ignores it and exits with serve's status.
            assert unit.one("KillMode") == "mixed"
            os.killpg(proc.pid, getattr(signal, unit.one("KillSignal")))
            proc.wait(timeout=float(unit.one("TimeoutStopSec")))
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        output = log_file.read_text()
        assert proc.returncode == 0, output
        assert netns_pids(server.netns) == [], "serve left processes behind"

    started = re.findall(r"childprocess: (\w+) started \(pid (\d+)\)", output)
    stopped = re.findall(r"childprocess: (\w+) \(pid (\d+)\) stopped", output)
    assert {name for name, _ in started} >= {"Janus", "Caddy"}, output
    assert stopped == started[::-1], output  # stopped in the reverse order of their start

    traced = read_trace(trace_file)
    assert {"janus", "caddy", "ip"} <= traced.programs
    families = set(unit.words("RestrictAddressFamilies"))
    assert traced.families <= families, f"{traced.families - families} not allowed by the unit"
    refused = traced.syscalls - allowed_syscalls(unit)
    assert not refused, f"SystemCallFilter= would refuse {sorted(refused)}"
    if unit.service.get("MemoryDenyWriteExecute") == ["yes"]:
        assert traced.write_exec == []


def test_uninstall_removes_the_unit_and_the_app_and_keeps_the_data(installed: Install) -> None:
    # After the serve test: the local CA that room PCs trust is part of the data.
    kept = tree(DATA, ETC)
    output = make(installed.checkout, "uninstall")
    assert not UNIT.exists() and not PREFIX.exists() and not ADMIN_COMMAND.exists()
    assert not ENABLED.is_symlink()
    assert f"the data folder {DATA}" in output and f"the settings {ENV_FILE}" in output
    assert tree(DATA, ETC) == kept
    assert (DATA / "secrets.json").is_file() and ENV_FILE.is_file()
    assert psql("SELECT count(*) FROM pg_database WHERE datname = 'diemcau'") == "1"
    assert "Điểm Cầu is not installed: nothing changed." in make(installed.checkout, "uninstall")
