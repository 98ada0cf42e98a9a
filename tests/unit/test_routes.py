"""on_link: a container's bridge address is used directly only when it is on a link of this machine."""

from __future__ import annotations

from pytest_orchlab.core.routes import on_link

# /proc/net/route as read on our CI machine: default via 192.0.2.1, docker0 172.17.0.0/16, eth0 192.0.2.0/24.
TABLE = """Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0
docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0
eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
"""


def test_a_bridge_address_is_on_link() -> None:
    assert on_link("172.17.0.5", TABLE)
    assert on_link("192.0.2.77", TABLE)


def test_an_inner_engines_container_past_the_default_route_is_not() -> None:
    # Docker-in-Docker: the inner bridge 10.213.0.0/24 has no route here; a proxy answered HTTP 426 there.
    assert not on_link("10.213.0.2", TABLE)


def test_no_table_or_no_address_is_not_on_link() -> None:
    assert not on_link("172.17.0.5", "Iface\tDestination\n")
    assert not on_link("", TABLE)
    assert not on_link("fe80::1", TABLE)
