"""`lapor proxy`: the TLS reverse proxy in front of the web sites (Debian's nginx).

The desk, the operations page, the tracking page (lacak) and the bridge's inbound door speak
plain HTTP on their own addresses; on the internet they are reached through one TLS port.
This module writes the nginx configuration for them from their public URLs
(LAPOR_DESK_PUBLIC_URL, LAPOR_OPS_PUBLIC_URL, LAPOR_LACAK_PUBLIC_URL, LAPOR_BRIDGE_PUBLIC_URL):
one `server` per site, chosen by its name (or its port, when the URLs differ by port), each
with the deployment's certificate. A deployment that runs its own sign-in provider (compose's
Keycloak) publishes it too, at its issuer's origin (LAPOR_OIDC_ISSUER), when told where it
is (`--upstream signin=keycloak:8080`): only its browser paths, never its admin console.

What the proxy does for the sites, and must keep doing:
- It sets `X-Forwarded-For` to what came in plus the address it saw (the sites take the
  rightmost address that is not a trusted proxy, LAPOR_TRUSTED_PROXIES), and overwrites
  `X-Forwarded-Proto`, `X-Forwarded-Host` and `Host` with its own (a client's are never
  passed on); it drops a client's `Forwarded` and `X-Real-IP`.
- A name it does not serve gets no TLS handshake, and a request for another `Host` a 421
  from the proxy itself: nothing reaches a site under a name it was not published as.
- Bodies are bounded per site (forms on the desk, nothing on lacak), HSTS on every answer,
  the operations page's live stream (`/events`) passed on unbuffered.
- It runs as an unprivileged user: pid, temporary files and the error log are in its
  prefix folder, it listens on a port of its own, and it keeps no access log (addresses
  carry tracking ids; the sites log what they decide).

`lapor proxy certs` issues a server certificate from the development CA (the one `lapor
broker certs` makes), or from a CA of its own (`--ca-dir`: compose's first certificate), for
the demo and the tests; a deployment brings its own.
"""

from __future__ import annotations

import argparse
import base64
import ipaddress
import hashlib
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from services.runtime.settings import Settings
from services.tools.broker_security import SecuritySetupError, _openssl, ensure_files, write_private_bytes

CONF = "nginx.conf"
HSTS = "max-age=31536000"  # a year; no includeSubDomains: other names of the domain are not ours
# What a browser may send each site: the desk's forms (a note of up to 5,000 characters, as
# UTF-8 and form-encoded), the operations page's triage call, nothing on lacak (GET only);
# an agency's status (the bridge reads at most 64 KB); the provider's sign-in form.
BODY_LIMITS = {"desk": "64k", "ops": "16k", "lacak": "1k", "bridge": "64k", "signin": "64k"}
# Paths answered as a live stream (server-sent events): passed on as they come.
STREAMS = {"ops": ("/events",)}
# Sites of which only some paths are published (the rest: 404 from the proxy). The provider:
# its realms' pages and their static files, as Keycloak advises; not its admin console, its
# welcome page or anything added later. The bridge: the agencies' status door only.
PUBLISHED_PATHS = {"signin": ("/realms/", "/resources/"), "bridge": ("/agencies/",)}
# Keycloak answers with large headers (its cookies, a long Location): nginx's default 4 KB
# header buffer makes those a 502. (The busy buffers must stay below the buffers' sum.)
HEADER_BUFFERS = {"signin": ("proxy_buffer_size 16k;", "proxy_buffers 8 16k;",
                             "proxy_busy_buffers_size 32k;")}
SITE_SETTINGS = {"desk": "LAPOR_DESK_PUBLIC_URL", "ops": "LAPOR_OPS_PUBLIC_URL",
                 "lacak": "LAPOR_LACAK_PUBLIC_URL", "bridge": "LAPOR_BRIDGE_PUBLIC_URL",
                 "signin": "LAPOR_OIDC_ISSUER"}
SITES = tuple(SITE_SETTINGS)


class ProxyError(ValueError):
    """The proxy's configuration cannot be written or its nginx not run; the message says why."""


@dataclass(frozen=True)
class ProxiedSite:
    name: str  # desk, ops, lacak, bridge, signin
    public_url: str  # https://desk.lapor.go.id, or with a port
    upstream: str  # host:port where the site itself listens (plain HTTP)

    @property
    def host(self) -> str:
        return (urlsplit(self.public_url).hostname or "").lower()

    @property
    def port(self) -> int:
        return urlsplit(self.public_url).port or 443

    @property
    def netloc(self) -> str:
        """The public host as a browser's `Host` header carries it (the port when not 443)."""
        return self.host if self.port == 443 else f"{self.host}:{self.port}"


def _site(name: str, public_url: str, upstream: str) -> ProxiedSite:
    parts = urlsplit(public_url)
    setting = SITE_SETTINGS.get(name, name)
    if parts.scheme != "https" or not parts.hostname or parts.path not in ("", "/") or parts.query \
            or parts.fragment or parts.username or parts.password:
        raise ProxyError(f"{setting}: {public_url!r} must be like https://{name}.example.go.id "
                         "(the proxy serves each site over TLS, at its root)")
    if any(c in parts.hostname for c in " ;{}'\"\\$") or any(c in upstream for c in " ;{}'\"\\$"):
        raise ProxyError(f"{setting}: {public_url!r} or its upstream {upstream!r} is not a plain name")
    return ProxiedSite(name, public_url, upstream)


def _upstream(host: str, port: int) -> str:
    """Where the proxy reaches a site: its bind address, a wildcard one as loopback."""
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _origin(url: str | None) -> str:
    """`https://masuk.example/realms/lapor` -> `https://masuk.example` (the issuer's site)."""
    parts = urlsplit(url or "")
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def sites_from_settings(settings: Settings, upstreams: dict[str, str] | None = None) -> list[ProxiedSite]:
    """The sites with a public URL, each reached where it listens (LAPOR_<SITE>_HOST/PORT)
    unless `upstreams` says otherwise (compose: `desk:8074`). The sign-in provider only when
    its upstream is given: a deployment's provider is usually someone else's, with its own
    front door."""
    upstreams = upstreams or {}
    given = {"desk": (settings.desk_public_url, _upstream(settings.desk_host, settings.desk_port)),
             "ops": (settings.ops_public_url, _upstream(settings.ops_host, settings.ops_port)),
             "lacak": (settings.lacak_public_url, _upstream(settings.lacak_host, settings.lacak_port)),
             "bridge": (settings.bridge_public_url, _upstream(settings.bridge_host, settings.bridge_port))}
    if "signin" in upstreams:
        if not settings.oidc_issuer:
            raise ProxyError("--upstream signin=...: LAPOR_OIDC_ISSUER is not set (the provider's "
                             "public address is its issuer's origin)")
        given["signin"] = (_origin(settings.oidc_issuer), upstreams["signin"])
    unknown = set(upstreams) - set(given)
    if unknown:
        raise ProxyError(f"no site named {', '.join(sorted(unknown))} ({', '.join(SITES)})")
    sites = [_site(name, url, upstreams.get(name, upstream)) for name, (url, upstream) in given.items() if url]
    if not sites:
        raise ProxyError("no site has a public URL: set LAPOR_DESK_PUBLIC_URL, LAPOR_OPS_PUBLIC_URL "
                         "or LAPOR_LACAK_PUBLIC_URL (https://...)")
    seen: dict[tuple[str, int], str] = {}
    for site in sites:
        if (site.host, site.port) in seen:
            raise ProxyError(f"{SITE_SETTINGS[site.name]} and {SITE_SETTINGS[seen[site.host, site.port]]} "
                             f"are both {site.netloc}: each site needs its own name or port")
        seen[site.host, site.port] = site.name
    return sites


def _forwarding(site: ProxiedSite) -> list[str]:
    """The request headers the proxy sets, for the whole server. (A location with a
    `proxy_set_header` of its own would inherit none of these: locations set none.)"""
    return [
        "proxy_set_header Host $host;",
        "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        "proxy_set_header X-Forwarded-Proto https;",
        f"proxy_set_header X-Forwarded-Host {site.netloc};",
        'proxy_set_header Forwarded "";',
        'proxy_set_header X-Real-IP "";',
    ]


def nginx_config(sites: list[ProxiedSite], cert: Path, key: Path, prefix: Path,
                 listen: tuple[str, ...] = ("0.0.0.0",), listen_port: int | None = None,
                 resolver: str | None = None, status_listen: str | None = None) -> str:
    """The whole nginx.conf: no directive needs root, every path is in `prefix` but the
    certificate's; `listen` are the addresses of the TLS port(s): the public URLs' ports, or
    `listen_port` when the proxy's port is mapped to the public one (443 is a privileged
    port: a container's published port, or a firewall redirect, takes it).

    With a `resolver` (a DNS server's address), the upstreams' names are looked up when
    requests come (again every 10 s), not once at start: on a container network a site
    that is not up yet is a 502 for its requests only, not a proxy that will not start,
    and a site that comes back at another address is found there.

    With `status_listen` (ADDRESS:PORT), nginx's connection counts at /stub_status there, in
    plain HTTP, for a metrics exporter on a private network (never published)."""
    if listen_port is not None and len({s.port for s in sites}) > 1:
        raise ProxyError("--listen-port serves one port: the public URLs have several")
    port_of = {s.name: listen_port or s.port for s in sites}
    p = prefix.resolve()
    out = [
        "# Written by `lapor proxy config` (services/tools/web_proxy.py): the TLS proxy in front of",
        "# " + ", ".join(f"{s.name} {s.public_url}" for s in sites) + ".",
        f"# Run as an unprivileged user: nginx -p {p}/ -c {p / CONF} -e {p / 'logs' / 'error.log'}",
        "daemon off;",
        "worker_processes 1;",
        f"pid {p / 'nginx.pid'};",
        f"error_log {p / 'logs' / 'error.log'} warn;",
        "events { worker_connections 1024; }",
        "http {",
    ]
    http = [
        *(f"{kind}_temp_path {p / 'temp' / kind};" for kind in
          ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")),
        "access_log off;  # addresses carry tracking ids; the sites log what they decide",
        "server_tokens off;",
        *([f"resolver {_bracketed(resolver)} valid=10s ipv6=off;", "resolver_timeout 5s;"]
          if resolver else []),
    ]
    for site in sites:
        # Through a variable, nginx looks the name up with the resolver at request time.
        target = "$site_upstream" if resolver else site.upstream
        http += ["server {",
                 *(f"    listen {_listen(a, port_of[site.name])} ssl;" for a in listen),
                 f"    server_name {site.host};",
                 f"    ssl_certificate {cert.resolve()};",
                 f"    ssl_certificate_key {key.resolve()};",
                 f'    add_header Strict-Transport-Security "{HSTS}" always;',
                 f"    client_max_body_size {BODY_LIMITS[site.name]};",
                 *(f"    {line}" for line in HEADER_BUFFERS.get(site.name, ())),
                 *(f"    {line}" for line in _forwarding(site)),
                 *([f"    set $site_upstream {site.upstream};"] if resolver else [])]
        published = PUBLISHED_PATHS.get(site.name)
        if published is None:
            http.append(f"    location / {{ proxy_pass http://{target}; }}")
        else:
            http += [f"    location {path} {{ proxy_pass http://{target}; }}" for path in published]
            http.append('    location / { return 404 "not here\\n"; }')
        for path in STREAMS.get(site.name, ()):  # server-sent events: each as it comes
            http.append(f"    location = {path} {{ proxy_pass http://{target}; proxy_buffering off; }}")
        http.append("}")
    for port in sorted(set(port_of.values())):  # names it does not serve: no handshake;
        http += ["server {",                       # another Host on a served name: 421, here
                 *(f"    listen {_listen(a, port)} ssl default_server;" for a in listen),
                 "    ssl_reject_handshake on;",
                 '    return 421 "unknown host\\n";',
                 "}"]
    if status_listen:
        http += ["server {  # plain HTTP: for the metrics exporter, on a private network only",
                 f"    listen {status_listen};",
                 "    location = /stub_status { stub_status; }",
                 '    location / { return 404 "not here\\n"; }',
                 "}"]
    out += [f"    {line}" for line in http]
    out.append("}")
    return "\n".join(out) + "\n"


def _bracketed(address: str) -> str:
    """An IPv6 address in brackets (as nginx reads it beside a port); others as they are."""
    try:
        return f"[{address}]" if ipaddress.ip_address(address).version == 6 else address
    except ValueError:  # a name, host:port, or already bracketed
        return address


def _listen(address: str, port: int) -> str:
    return f"{_bracketed(address)}:{port}"


def system_resolver(resolv_conf: Path = Path("/etc/resolv.conf")) -> str:
    """The first name server of this machine (a container's: its network's DNS, which
    knows the other containers by name: Docker's 127.0.0.11, podman's gateway)."""
    try:
        lines = resolv_conf.read_text().splitlines()
    except OSError:
        lines = []
    for line in lines:
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "nameserver":
            return parts[1]
    raise ProxyError(f"no nameserver in {resolv_conf}: give --resolver ADDRESS")


def write_config(prefix: Path, sites: list[ProxiedSite], cert: Path, key: Path,
                 listen: tuple[str, ...] = ("0.0.0.0",), listen_port: int | None = None,
                 resolver: str | None = None, status_listen: str | None = None) -> Path:
    """nginx.conf and its folders (logs, temp) in `prefix`."""
    for path in (cert, key):
        if not path.is_file():
            raise ProxyError(f"no certificate file {path}")
    for folder in ("logs", "temp"):
        (prefix / folder).mkdir(parents=True, exist_ok=True)
    conf = prefix / CONF
    conf.write_text(nginx_config(sites, cert, key, prefix, listen, listen_port, resolver, status_listen))
    return conf


def nginx_binary() -> str:
    found = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.path.exists(p)), None)
    if found is None:
        raise ProxyError("nginx is not installed: `apt-get install nginx` (scripts/setup does)")
    return found


def nginx_command(prefix: Path, *extra: str) -> list[str]:
    p = prefix.resolve()
    return [nginx_binary(), "-p", f"{p}/", "-c", str(p / CONF), "-e", str(p / "logs" / "error.log"), *extra]


def check(prefix: Path, user: str | None = None) -> None:
    """`nginx -t` on the written configuration (as `user`, when given and we are root)."""
    proc = subprocess.run(nginx_command(prefix, "-t", "-q"), capture_output=True, text=True,
                          **_as_user(prefix, user))
    if proc.returncode != 0:
        raise ProxyError(f"nginx refuses {prefix / CONF}: {(proc.stdout + proc.stderr).strip()[-1500:]}")


def _as_user(prefix: Path, user: str | None) -> dict[str, Any]:
    """Run as `user` (only root can, and only root needs to: nginx started by root keeps a
    root master process). The prefix becomes theirs."""
    if user is None or os.geteuid() != 0:
        return {}
    entry = pwd.getpwnam(user)
    for folder, _, files in os.walk(prefix):
        os.chown(folder, entry.pw_uid, entry.pw_gid)
        for name in files:
            os.chown(os.path.join(folder, name), entry.pw_uid, entry.pw_gid)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def start(prefix: Path, ports: list[tuple[str, int]], user: str | None = None,
          timeout_s: float = 30.0) -> subprocess.Popen[bytes]:
    """nginx in the foreground on `prefix` (as `user` when we are root), once it accepts
    connections on `ports`; stop it with `stop`."""
    check(prefix, user)
    proc = subprocess.Popen(nginx_command(prefix), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True, **_as_user(prefix, user))
    deadline = time.monotonic() + timeout_s
    waiting = list(ports)
    while waiting:
        if proc.poll() is not None:
            raise ProxyError(f"nginx exited with {proc.returncode}: {_log_tail(prefix)}")
        try:
            socket.create_connection(waiting[0], timeout=1).close()
            waiting.pop(0)
        except OSError:
            if time.monotonic() > deadline:
                stop(proc)
                raise ProxyError(f"nginx did not listen on {waiting[0]} within {timeout_s:.0f}s: "
                                 f"{_log_tail(prefix)}") from None
            time.sleep(0.05)
    return proc


def stop(proc: subprocess.Popen[bytes], timeout_s: float = 10.0, graceful: bool = True) -> None:
    """Graceful (SIGQUIT: open requests end first; a live stream holds it until it ends) or
    at once (SIGTERM), then SIGKILL after `timeout_s`."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGQUIT if graceful else signal.SIGTERM)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _log_tail(prefix: Path) -> str:
    try:
        return (prefix / "logs" / "error.log").read_text()[-1500:]
    except OSError:
        return "(no error log)"


def own_ca(folder: Path) -> Path:
    """A CA of the proxy's own in `folder` (made once: `ca.pem`, `ca.key` 0600), for a
    deployment's first certificate where the development CA is not at hand (compose keeps
    that one in a volume the proxy must not see). Its folder is its workshop: 0700."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    folder.chmod(0o700)
    if not (folder / "ca.key").exists() or not (folder / "ca.pem").exists():
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                 "-days", "3650", "-subj", "/CN=lapor-router proxy CA", "-keyout", "ca.key",
                 "-out", "ca.pem", cwd=folder)
        (folder / "ca.key").chmod(0o600)
    return folder


def issue_server_cert(settings: Settings, names: list[str], target: Path,
                      ca_dir: Path | None = None) -> tuple[Path, Path]:
    """A TLS server certificate for `names` from the development CA in LAPOR_ACCESS_DIR (made
    by `lapor broker certs` if missing), or from the CA in `ca_dir` (made if missing):
    `proxy.pem` and `proxy.key` (0600) in `target`, with the CA's certificate as `ca.pem`.
    For the demo, compose's first start and the tests: browsers trust it only if told to."""
    if not names:
        raise ProxyError("a certificate needs at least one name")
    target = target.resolve()  # openssl runs in `target`: absolute paths
    if ca_dir is None:
        sec = ensure_files(settings)
        work, ca_cert = sec.directory / "ca", sec.ca_cert
    else:
        work = own_ca(ca_dir.resolve())
        ca_cert = work / "ca.pem"
    if not (work / "ca.key").exists():
        raise SecuritySetupError(f"no CA key in {work}: certificates are issued where the CA was made")
    target.mkdir(parents=True, exist_ok=True)
    cert, key, csr, ext = (target / "proxy.pem", target / "proxy.key", target / "proxy.csr",
                           target / "proxy.ext")
    ext.write_text("subjectAltName=" + ",".join(f"DNS:{n}" for n in names) + "\n"
                   "extendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n")
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", f"/CN={names[0]}",
             "-keyout", str(key), "-out", str(csr), cwd=target)
    key.chmod(0o600)
    # A serial of its own: no shared serial file for issuers running at once.
    _openssl("x509", "-req", "-in", str(csr), "-CA", str(work / "ca.pem"), "-CAkey", str(work / "ca.key"),
             "-set_serial", f"0x{secrets.token_hex(8)}", "-days", "397", "-extfile", str(ext),
             "-out", str(cert), cwd=target)
    csr.unlink()
    ext.unlink()
    write_private_bytes(target / "ca.pem", ca_cert.read_bytes())
    (target / "ca.pem").chmod(0o644)
    return cert, key


def spki_sha256(cert: Path) -> str:
    """The certificate key's SPKI digest (base64 SHA-256): Chromium trusts exactly that key
    with `--ignore-certificate-errors-spki-list=<digest>`, and no other certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    spki = x509.load_pem_x509_certificate(cert.read_bytes()).public_key().public_bytes(
        Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


def _proxy(args: argparse.Namespace, settings: Settings) -> int:
    upstreams = dict(item.split("=", 1) for item in args.upstream or ())
    if args.action == "certs":  # for the names given, or else every site's public name
        names = list(args.name or ()) or sorted({s.host for s in sites_from_settings(settings, upstreams)})
        cert, key = issue_server_cert(settings, names, args.out, args.ca_dir)
        print(f"certificate {cert} for {', '.join(names)}, key {key} "
              f"(from the CA {args.out / 'ca.pem'})")
        return 0
    if args.cert is None or args.key is None:
        raise ProxyError("--cert and --key are needed: the deployment's certificate and key "
                         "(`lapor proxy certs` makes a development one)")
    sites = sites_from_settings(settings, upstreams)
    resolver = system_resolver() if args.resolver == "auto" else args.resolver
    conf = write_config(args.out, sites, args.cert, args.key, tuple(args.listen or ("0.0.0.0",)),
                        args.listen_port, resolver, args.status_listen)
    if args.action == "run":
        os.execv(nginx_binary(), nginx_command(args.out))  # the proxy in the foreground
    print(f"wrote {conf} for " + ", ".join(f"{s.name} {s.public_url} -> {s.upstream}" for s in sites))
    p = args.out.resolve()  # (nginx need not be on this machine: compose's step has none)
    print(f"run it as an unprivileged user: nginx -p {p}/ -c {p / CONF} -e {p / 'logs' / 'error.log'}")
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser("proxy", help="the TLS reverse proxy (nginx) in front of the desk, the "
                       "operations page, lacak and the bridge's door, from their public URLs")
    p.add_argument("action", choices=["config", "run", "certs"],
                   help="config: write OUT/nginx.conf; run: write it and run nginx in the "
                   "foreground; certs: a server certificate from the development CA")
    p.add_argument("--out", type=Path, default=Path(".lapor/proxy"),
                   help="the proxy's folder (configuration, pid, temporary files, error log)")
    p.add_argument("--cert", type=Path, help="config, run: the certificate (PEM, with its chain)")
    p.add_argument("--key", type=Path, help="config, run: its private key")
    p.add_argument("--listen", action="append", help="config, run: an address of the TLS port "
                   "(default 0.0.0.0; add :: for IPv6)")
    p.add_argument("--listen-port", type=int, default=None, help="config, run: the port nginx "
                   "listens on, when not the public URLs' (443 needs privileges: publish or "
                   "redirect it to this one)")
    p.add_argument("--upstream", action="append", metavar="SITE=HOST:PORT",
                   help="where the proxy reaches a site (default its LAPOR_<SITE>_HOST and "
                   "_PORT); signin=HOST:PORT also publishes the sign-in provider at "
                   "LAPOR_OIDC_ISSUER's origin")
    p.add_argument("--resolver", default=None, metavar="ADDRESS|auto", help="config, run: look "
                   "the upstreams' names up with this DNS server as requests come, not once at "
                   "start (auto: this machine's first nameserver; on a container network)")
    p.add_argument("--status-listen", default=None, metavar="ADDRESS:PORT", help="config, run: "
                   "nginx's connection counts at http://ADDRESS:PORT/stub_status, for a metrics "
                   "exporter (a private address: never publish it)")
    p.add_argument("--name", action="append", help="certs: a name the certificate is for "
                   "(default: every site's public name)")
    p.add_argument("--ca-dir", type=Path, default=None, help="certs: issue from the CA in this "
                   "folder (made once if missing), not from the development CA")
    p.set_defaults(handler=_proxy)
