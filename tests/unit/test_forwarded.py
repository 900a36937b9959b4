"""Who is asking behind a TLS proxy: X-Forwarded-For believed only from a trusted proxy (the
rightmost hop that is not one), budgets by IPv6 /64, a public URL checked at start."""

from __future__ import annotations

import pytest

from services.web.forwarded import budget_key, client_address, public_origin, trusted_networks

PROXY = trusted_networks("10.0.0.5, 172.18.0.0/16")


def test_the_forwarded_address_is_believed_only_from_a_trusted_proxy() -> None:
    assert client_address("10.0.0.5", ["203.0.113.7"], PROXY) == "203.0.113.7"
    assert client_address("172.18.3.4", ["203.0.113.7"], PROXY) == "203.0.113.7"
    # A client writing its own header straight to the site: its own address counts.
    assert client_address("198.51.100.9", ["203.0.113.7"], PROXY) == "198.51.100.9"
    assert client_address("198.51.100.9", ["203.0.113.7"], ()) == "198.51.100.9"
    # What the client wrote before our proxy appended its peer is passed over: rightmost.
    assert client_address("10.0.0.5", ["1.2.3.4, 203.0.113.7"], PROXY) == "203.0.113.7"
    assert client_address("10.0.0.5", ["1.2.3.4", "203.0.113.7"], PROXY) == "203.0.113.7"
    # Proxies in a chain are skipped; garbage where our proxy writes is one shared key.
    assert client_address("10.0.0.5", ["203.0.113.7, 172.18.0.9"], PROXY) == "203.0.113.7"
    assert client_address("10.0.0.5", ["evil"], PROXY) == "?"
    assert client_address("10.0.0.5", [], PROXY) == "10.0.0.5"
    assert client_address("10.0.0.5", ["[2001:db8::1]:443"], PROXY) == "2001:db8::1"


def test_an_ipv6_client_is_budgeted_by_its_slash_64() -> None:
    assert budget_key("2001:db8:1:2:aaaa::1") == budget_key("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert budget_key("2001:db8:1:3::1") != budget_key("2001:db8:1:2::1")
    assert budget_key("203.0.113.7") == "203.0.113.7" != budget_key("203.0.113.8")
    assert budget_key("::ffff:203.0.113.7") == "203.0.113.7"


def test_a_public_url_and_a_proxy_list_are_checked_at_start() -> None:
    assert public_origin("https://Desk.Lapor.go.id/", "X") == "https://desk.lapor.go.id"
    assert public_origin("https://desk.lapor.go.id:8443", "X") == "https://desk.lapor.go.id:8443"
    for bad in ("desk.lapor.go.id", "ftp://x", "https://x/desk", "https://u:p@x", "https://x/?a"):
        with pytest.raises(ValueError, match="X"):
            public_origin(bad, "X")
    with pytest.raises(ValueError, match="LAPOR_TRUSTED_PROXIES"):
        trusted_networks("10.0.0.5, proxy.local")
