"""Is an address on a link of this machine (a bridge, not somewhere past the default gateway)?"""

from __future__ import annotations

import ipaddress
import socket
import struct
from pathlib import Path

ROUTES = Path("/proc/net/route")


def _hex_ip(field: str) -> int:
    """/proc/net/route writes IPv4 addresses as host-order (little-endian) hex."""
    return int(ipaddress.IPv4Address(socket.inet_ntoa(struct.pack("<I", int(field, 16)))))


def on_link(address: str, table: str | None = None) -> bool:
    """True when the most specific route to ``address`` has no gateway (a local bridge or LAN).

    A container's bridge address is reachable only that way; the same private address past the default
    route is some other host (a proxy answered HTTP 426 there on our machines). No table (not Linux): False.
    """
    if table is None:
        try:
            table = ROUTES.read_text()
        except OSError:
            return False
    try:
        target = int(ipaddress.IPv4Address(address))
    except ValueError:
        return False
    best: tuple[int, bool] | None = None  # (prefix length, has gateway)
    for line in table.splitlines()[1:]:
        cols = line.split()
        if len(cols) < 8:
            continue
        dest, gateway, mask = _hex_ip(cols[1]), _hex_ip(cols[2]), _hex_ip(cols[7])
        if target & mask == dest & mask:
            prefix = bin(mask).count("1")
            if best is None or prefix > best[0]:
                best = (prefix, gateway != 0)
    return best is not None and not best[1]
