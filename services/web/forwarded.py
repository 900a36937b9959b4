"""Who is asking, and which site they asked, behind a TLS-terminating reverse proxy.

aiohttp sees the proxy: its address, `http`, its upstream Host. The browser's origin is the
site's public URL (`LAPOR_<SITE>_PUBLIC_URL`), never a header a client could write: origins
and OIDC redirect URIs are built from it. The client's address is taken from
`X-Forwarded-For` only when the connection comes from a configured proxy
(`LAPOR_TRUSTED_PROXIES`): the rightmost address that is not a trusted proxy is the client
(what was added before our proxy may be anything the client wrote). Pure functions."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def trusted_networks(text: str) -> tuple[Network, ...]:
    """`10.0.0.5, 172.18.0.0/16, ::1` -> networks; a bad entry is a clear error at start."""
    out: list[Network] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        try:
            out.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"LAPOR_TRUSTED_PROXIES: {item!r} is not an address or network") from None
    return tuple(out)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [v6]:port
        text = text[1:text.index("]")]
    elif text.count(":") == 1:  # v4:port
        text = text.split(":")[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address | None,
             proxies: Iterable[Network]) -> bool:
    return address is not None and any(address in net for net in proxies)


def client_address(remote: str | None, forwarded_for: list[str], proxies: tuple[Network, ...]) -> str:
    """The client's address: the peer itself, unless the peer is a trusted proxy; then the
    rightmost X-Forwarded-For entry that is not one (all of them, over several headers)."""
    peer = _address(remote or "")
    if not _trusted(peer, proxies):
        return str(peer) if peer is not None else (remote or "?")
    hops = [hop for header in forwarded_for for hop in header.split(",")]
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            return "?"  # garbage where our proxy writes: one shared budget, not a free one
        if not _trusted(address, proxies):
            return str(address)
    return str(peer)


def budget_key(address: str) -> str:
    """What a per-client budget is kept by: an IPv6 client's /64 (one subscriber gets a
    whole /64 and could rotate through it), an IPv4 address as it is."""
    parsed = _address(address)
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{parsed}/64", strict=False))
    return str(parsed) if parsed is not None else address


def public_origin(url: str, setting: str) -> str:
    """`https://desk.lapor.go.id/` -> `https://desk.lapor.go.id`; refused unless http(s) with
    a host and no path beyond `/` (the site is served at its root)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/") \
            or parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError(f"{setting}: {url!r} must be like https://desk.example.go.id")
    return f"{parts.scheme}://{parts.netloc.lower()}"
