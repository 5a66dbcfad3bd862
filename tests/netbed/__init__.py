"""A network test bed: a server and several sites as separate hosts on one machine.

Each host is a Linux network namespace with one interface (``eth0``) and one IPv4 address
on a /24 — the server ``<subnet>.1``, the sites ``.11``, ``.12``, … in the order given —
and ``lo`` up (the server's web app listens on 127.0.0.1 inside its namespace, out of the
sites' reach). The hosts' veth cables end on ONE Linux bridge that sits in a namespace of
its own (``netbed-<prefix>-sw``)::

    netbed-<prefix>-server  eth0 10.77.0.1  ──┐
    netbed-<prefix>-site-A  eth0 10.77.0.11 ──┤ br0 in netbed-<prefix>-sw
    netbed-<prefix>-site-B  eth0 10.77.0.12 ──┘

Why it looks like this:

* The server sits directly on the bridge, like the sites, not behind a router: Janus
  binds its ICE sockets to one interface, and every site must reach that interface's
  address as it is, on one segment.
* Nothing touches the host machine's network: the bridge is not in the root namespace,
  the root namespace has no address on the subnet, and there is no NAT or forwarding out.
  Traffic stays between the bed's namespaces, so two beds (even on the same subnet) and
  the machine's own services never see each other.
* Names carry a prefix with the creating PID (``netbed-<pid>-<random>-…``), so beds never
  collide, and a new bed deletes the namespaces of crashed runs whose PID is gone
  (``remove_leftovers``). Interface names are short (≤ 15 characters) and only ever exist
  inside the bed's namespaces.

Link conditions, per host, on its own cable (``lo`` is never touched):

* ``limit_rate(kbit, direction=…)`` — a ``tc tbf`` token bucket; "egress" on the host's
  interface (what it sends), "ingress" on the bridge port facing it (what it receives:
  a qdisc shapes only what leaves a device).
* ``drop_random(percent)`` — nftables ``numgen random mod 100 < percent drop``, in and out.
* ``block_udp(to=None)`` — drop UDP (WebRTC media), optionally only to/from one address.
* ``block_ports(to=, proto=, ports=)`` — drop udp/tcp to and from some ports of one address.
* ``cut()`` — drop every frame. ``restore()`` removes all of the above.

The nftables rules sit in the switch namespace (a ``bridge`` table per host, matching its
port), not in the host's own input/output hooks: a packet dropped in a host's output hook
fails the sender's ``sendto()`` with EPERM, which no lossy link or middlebox does, and
which browsers' WebRTC stacks treat differently from silent loss.

This kernel has NO ``netem``, so there is no delay or jitter: only rate, loss and blocking.

Use (as root; tests call ``netbed_available()`` and FAIL with its reason, never skip)::

    with NetBed(["A", "B"]) as bed:
        bed.server.popen([...])                    # stopped when the bed closes
        bed.sites["A"].can_connect_tcp(bed.server.ip, 443)
        bed.sites["A"].block_udp()
        exe = chromium_wrapper(bed.sites["A"], tmp_path, home=home)  # for Playwright
        trust_ca(home, ca_file)                    # that Chromium trusts the local CA

Closing (also when the body raises, and at interpreter exit for a bed never closed)
stops every process in the namespaces — tracked or not — and deletes them.
``tools.py`` holds small TCP/UDP servers and clients to run inside hosts.
"""

from tests.netbed.bed import (
    HOST_DEV,
    NETNS_PREFIX,
    Host,
    NetBed,
    chromium_wrapper,
    list_netns,
    netbed_available,
    netns_pids,
    remove_leftovers,
    trust_ca,
    wait_for_line,
)
from tests.netbed.tools import TOOLS

__all__ = [
    "HOST_DEV",
    "NETNS_PREFIX",
    "TOOLS",
    "Host",
    "NetBed",
    "chromium_wrapper",
    "list_netns",
    "netbed_available",
    "netns_pids",
    "remove_leftovers",
    "trust_ca",
    "wait_for_line",
]
