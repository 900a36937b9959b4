"""A stage's own web site (aiohttp) inside its worker: starting it, and the guard every site
puts first (allowed hosts, methods, security headers on every answer, errors as JSON)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import resources
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST


async def start_site(app: web.Application, host: str, port: int) -> web.AppRunner:
    """Serve `app` on host:port until the returned runner is cleaned up (no access log: the
    stages log what they decide, with ids, never a URL that may carry one)."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner


async def favicon(request: web.Request) -> web.Response:
    """The LAPOR! mark every site serves at /favicon.ico, where browsers look for it (an SVG,
    services/domain/data/favicon.svg: its type says so)."""
    body = resources.files("services.domain").joinpath("data/favicon.svg").read_bytes()
    return web.Response(body=body, content_type="image/svg+xml")


def redirect_answer(exc: web.HTTPRedirection) -> web.Response:
    """A raised redirect as an answer a middleware can add headers to, keeping its cookies:
    the session's Set-Cookie rides on the redirect to the provider and back."""
    answer = web.Response(status=exc.status, headers=exc.headers)
    for name, morsel in exc.cookies.items():
        answer.cookies[name] = morsel
    return answer


# OWASP ASVS level 1 (V14.4): the page loads only its own script and style, is never framed,
# and tells the browser not to guess types or pass the address on.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
                               "img-src 'self' data:; connect-src 'self'; base-uri 'none'; "
                               "form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cache-Control": "no-store",
}


# A page with no script at all (the desk): its own style and nothing else.
NO_SCRIPT_CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'none'; "
                 "base-uri 'none'; frame-ancestors 'none'")


def signed_in_headers(provider_origin: str, csp: str = SECURITY_HEADERS["Content-Security-Policy"]
                      ) -> dict[str, str]:
    """The security headers of a site where staff sign in: its forms may post to itself and
    to the provider (sign-out goes on there), and a POST carries its real `Origin` for the
    CSRF check (with `no-referrer` a browser sends `Origin: null`, so `same-origin`)."""
    return {**SECURITY_HEADERS, "Referrer-Policy": "same-origin",
            "Content-Security-Policy": csp.replace("form-action 'none'",
                                                   f"form-action 'self' {provider_origin}")}


def host_name(header: str | None) -> str | None:
    """The host of a `Host` header without its port (`[::1]:8070` -> `::1`), lower case."""
    if not header:
        return None
    header = header.strip().lower()
    if header.startswith("["):
        end = header.find("]")
        return header[1:end] if end > 0 else None
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


async def guarded(request: web.Request, handler: Any, allowed_hosts: frozenset[str], setting: str,
                  refuse: Callable[[web.Request], web.StreamResponse | None] | None = None,
                  methods: tuple[str, ...] = ("GET", "HEAD"),
                  headers: Mapping[str, str] = SECURITY_HEADERS) -> web.StreamResponse:
    """Only allowed hosts, only `methods`, then `refuse` (a budget, say); the security headers
    on every answer (errors included); an HTTP error as JSON rather than an HTML page."""
    if host_name(request.headers.get("Host")) not in allowed_hosts:
        response: web.StreamResponse = web.json_response({"error": f"unknown host ({setting})"},
                                                         status=421)
    elif request.method not in methods:
        response = web.json_response(
            {"error": "read-only" if "POST" not in methods else "method not allowed"}, status=405)
    elif refuse is not None and (refusal := refuse(request)) is not None:
        response = refusal
    else:
        try:
            response = await handler(request)
        except web.HTTPRedirection as exc:
            response = redirect_answer(exc)
        except web.HTTPException as exc:
            response = web.json_response({"error": exc.reason}, status=exc.status)
    if not response.prepared:
        response.headers.update(headers)
    return response


def worker_port(exposition: Callable[[], bytes], service: str) -> web.Application:
    """A worker's own web port: /metrics/ and /health/ and nothing else (scraped on the
    compose network, never published), for the workers that are not faust apps."""
    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "service": service})

    app = web.Application()
    app.router.add_get("/metrics/", metrics)
    app.router.add_get("/health/", health)
    return app
