"""Staff sign-in with OpenID Connect for the desk and the operations page (aiohttp).

The authorization code flow with PKCE (S256) and a nonce, through Authlib's client; the ID
token's signature (the provider's JWKS), issuer, audience, expiry and nonce checked with
joserfc. The session is an encrypted cookie (aiohttp-session, Fernet): `HttpOnly`, `Secure`
(LAPOR_STAFF_COOKIE_SECURE), `SameSite=Lax` (the provider's redirect back is a top-level GET
from another site, which `Strict` would strip of the cookie that holds the flow's state).

Every action is a POST that carries the session's CSRF token (a form field or the
`X-CSRF-Token` header); a POST whose `Origin` is another site is refused before that.
Signing out forgets the session here (its id is refused until it would have expired, in
this process) and at the provider.
"""

from __future__ import annotations

import base64
import html
import hmac
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx2
from aiohttp import web
from aiohttp_session import get_session, new_session
from aiohttp_session import setup as setup_session
from aiohttp_session.cookie_storage import EncryptedCookieStorage
from authlib.integrations.httpx_client import AsyncOAuth2Client
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from services.domain.staff_roles import StaffRoles, roles_from_groups
from services.web.forwarded import public_origin
from services.runtime.logging import get_logger
from services.runtime.settings import Settings
from services.runtime.signed_out import session_digest

FLOW_MAX_AGE_S = 600  # a sign-in started and not finished within this is started again
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class SignInError(Exception):
    """The provider's answer could not be trusted; the message is safe to show."""


@dataclass(frozen=True)
class Staff:
    session_id: str
    subject: str
    name: str
    roles: StaffRoles
    csrf: str


class OidcProvider:
    """One provider: its discovery document and keys (fetched once, keys again on a new kid)."""

    def __init__(self, issuer: str, client_id: str, client_secret: str, internal_url: str | None = None):
        self.issuer, self.client_id, self.client_secret = issuer.rstrip("/"), client_id, client_secret
        # The discovery document from where this worker reaches the provider (its issuer and
        # browser-facing endpoints stay the public ones; its back channel may not).
        parts = urlsplit(self.issuer)
        base = internal_url.rstrip("/") if internal_url else f"{parts.scheme}://{parts.netloc}"
        self.discovery_url = f"{base}{parts.path}/.well-known/openid-configuration"
        self._metadata: dict[str, Any] | None = None
        self._keys: KeySet | None = None

    async def metadata(self) -> dict[str, Any]:
        if self._metadata is None:
            async with httpx2.AsyncClient(timeout=10) as http:
                answer = await http.get(self.discovery_url)
                answer.raise_for_status()
                data = answer.json()
            if data.get("issuer") != self.issuer:
                raise SignInError("the provider's discovery document names another issuer")
            self._metadata = data
        return self._metadata

    async def keys(self, refresh: bool = False) -> KeySet:
        if self._keys is None or refresh:
            async with httpx2.AsyncClient(timeout=10) as http:
                answer = await http.get((await self.metadata())["jwks_uri"])
                answer.raise_for_status()
            self._keys = KeySet.import_key_set(answer.json())
        return self._keys

    def _client(self, redirect_uri: str) -> AsyncOAuth2Client:
        return AsyncOAuth2Client(self.client_id, self.client_secret, scope="openid profile",
                                 redirect_uri=redirect_uri, code_challenge_method="S256",
                                 timeout=10)

    async def begin(self, redirect_uri: str) -> tuple[str, dict[str, str]]:
        """The provider's sign-in address and what must be kept until the user comes back."""
        flow = {"state": secrets.token_urlsafe(24), "nonce": secrets.token_urlsafe(24),
                "verifier": secrets.token_urlsafe(48), "redirect_uri": redirect_uri,
                "started": str(int(time.time()))}
        async with self._client(redirect_uri) as client:
            url, _ = client.create_authorization_url(
                (await self.metadata())["authorization_endpoint"], state=flow["state"],
                code_verifier=flow["verifier"], nonce=flow["nonce"])
        return str(url), flow

    async def finish(self, code: str, flow: dict[str, str]) -> tuple[dict[str, Any], str]:
        """Exchange the code (with the PKCE verifier); the ID token's verified claims and the
        token itself (kept for the provider's sign-out)."""
        async with self._client(flow["redirect_uri"]) as client:
            try:
                token = await client.fetch_token((await self.metadata())["token_endpoint"],
                                                 code=code, code_verifier=flow["verifier"])
            except Exception as exc:  # Authlib raises its OAuthError, httpx its own
                raise SignInError(f"the provider refused the code ({type(exc).__name__})") from None
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise SignInError("the provider sent no ID token")
        return await self.verify(id_token, flow["nonce"]), id_token

    async def verify(self, id_token: str, nonce: str) -> dict[str, Any]:
        try:
            try:
                decoded = jwt.decode(id_token, await self.keys(), algorithms=["RS256", "ES256", "PS256"])
            except JoseError:  # perhaps a key rotated since we fetched them
                decoded = jwt.decode(id_token, await self.keys(refresh=True),
                                     algorithms=["RS256", "ES256", "PS256"])
            jwt.JWTClaimsRegistry(
                iss={"essential": True, "value": self.issuer},
                aud={"essential": True, "value": self.client_id},
                sub={"essential": True}, exp={"essential": True},
                nonce={"essential": True, "value": nonce}, leeway=60,
            ).validate(decoded.claims)
        except JoseError as exc:
            raise SignInError(f"the ID token is not valid ({exc.error})") from None
        return dict(decoded.claims)

    async def sign_out_url(self, id_token: str | None, after: str) -> str | None:
        endpoint = (await self.metadata()).get("end_session_endpoint")
        if not endpoint:
            return None
        query = {"post_logout_redirect_uri": after, "client_id": self.client_id}
        if id_token:
            query["id_token_hint"] = id_token
        return f"{endpoint}?{urlencode(query)}"

    @property
    def origin(self) -> str:
        parts = urlsplit(self.issuer)
        return f"{parts.scheme}://{parts.netloc}"


def read_secret(path: Path | None, what: str) -> str:
    """A secret from a file only its owner may read (the setting `what` names it)."""
    if path is None:
        raise ValueError(f"{what} is not set")
    if path.stat().st_mode & 0o077:
        raise ValueError(f"{path}: {what} must be readable by its owner only (chmod 600)")
    return path.read_text().strip()


def session_key(path: Path | None) -> bytes:
    """The cookie key: 32 bytes from the file (urlsafe base64), or a fresh one per process."""
    if path is None:
        return secrets.token_bytes(32)
    key = base64.urlsafe_b64decode(read_secret(path, "LAPOR_STAFF_SESSION_KEY_FILE"))
    if len(key) != 32:
        raise ValueError(f"{path}: the session key must be 32 bytes in urlsafe base64")
    return key


def safe_next(target: str | None, default: str = "/") -> str:
    """Only a path on this site: never `//host`, `/\\host` or a full URL. A backslash, a
    control character or a space anywhere is refused too: browsers and yarl drop tabs and
    newlines from a URL and read a backslash as `/`, so `/<tab>/evil.example` would become
    `//evil.example`, another site."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return default
    if any(c == "\\" or c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in target):
        return default
    return target


class StaffSignIn:
    """The sign-in routes of one site (`/auth/...`) and the questions its pages ask."""

    def __init__(self, provider: OidcProvider, settings: Settings, cookie_name: str,
                 public_url: str = "", key_file: Path | None = None):
        self.provider, self.cookie_name = provider, cookie_name
        # Behind a TLS proxy the request says http and the proxy's upstream host: the site's
        # public URL is what the browser sees (forms' Origin, the OIDC redirect URI).
        self.public_origin = public_origin(public_url, f"the public URL of {cookie_name}") if public_url else None
        self.groups_claim = settings.oidc_groups_claim
        self.operator_group, self.agency_prefix = settings.staff_operator_group, settings.staff_agency_prefix
        self.group_root = settings.staff_group_root
        self.max_age_s = int(settings.staff_session_hours * 3600)
        self.storage = EncryptedCookieStorage(
            session_key(key_file or settings.staff_session_key_file), cookie_name=cookie_name,
            max_age=self.max_age_s, httponly=True, secure=settings.staff_cookie_secure,
            samesite="Lax", path="/")
        # Sessions signed out (digests of their ids) -> when each would have ended: this
        # worker's and, through `announce` and `revoke`, every other worker's of the site.
        self.signed_out: dict[str, float] = {}
        self.announce: Callable[[str, float], Awaitable[None]] | None = None

    @classmethod
    def from_settings(cls, settings: Settings, cookie_name: str, public_url: str = "",
                      key_file: Path | None = None) -> StaffSignIn:
        """`public_url` and `key_file`: the site's own (LAPOR_<SITE>_PUBLIC_URL and
        LAPOR_<SITE>_SESSION_KEY_FILE)."""
        if not settings.oidc_issuer:
            raise ValueError("LAPOR_OIDC_ISSUER is not set: staff cannot sign in")
        secret = read_secret(settings.oidc_client_secret_file, "LAPOR_OIDC_CLIENT_SECRET_FILE")
        return cls(OidcProvider(settings.oidc_issuer, settings.oidc_client_id, secret,
                                settings.oidc_internal_url), settings, cookie_name, public_url,
                   key_file)

    def install(self, app: web.Application) -> None:
        setup_session(app, self.storage)
        app.router.add_get("/auth/login", self.login)
        app.router.add_get("/auth/callback", self.callback)
        app.router.add_post("/auth/logout", self.logout)

    def site(self, request: web.Request) -> str:
        """This site's origin as the browser sees it: its public URL when set (behind a
        proxy), else the request's own (its Host passed the site's guard)."""
        return self.public_origin or f"{request.scheme}://{request.host}"

    async def login(self, request: web.Request) -> web.StreamResponse:
        url, flow = await self.provider.begin(f"{self.site(request)}/auth/callback")
        session = await get_session(request)
        session["flow"] = {**flow, "next": safe_next(request.query.get("next"))}
        raise web.HTTPFound(url)

    async def callback(self, request: web.Request) -> web.StreamResponse:
        session = await get_session(request)
        flow = session.get("flow")
        if (not isinstance(flow, dict) or request.query.get("state") != flow.get("state")
                or time.time() - int(flow.get("started", 0)) > FLOW_MAX_AGE_S):
            get_logger(component="staff_signin").warning("sign_in_refused", reason="state_mismatch")
            return self.refusal("The sign-in could not be matched to one started here: start again.")
        if "error" in request.query or "code" not in request.query:
            return self.refusal("The provider did not sign you in.")
        try:
            claims, id_token = await self.provider.finish(request.query["code"], flow)
        except SignInError as exc:
            get_logger(component="staff_signin").warning("sign_in_refused", reason=str(exc))
            return self.refusal(str(exc))
        roles = roles_from_groups(claims.get(self.groups_claim) or [], self.group_root,
                                  self.operator_group, self.agency_prefix)
        fresh = await new_session(request)  # a new session: nothing of the flow's carries over
        fresh.update({"sid": secrets.token_urlsafe(16), "sub": claims["sub"],
                      "name": str(claims.get("preferred_username") or claims["sub"])[:100],
                      "operator": roles.national_operator, "agencies": sorted(roles.agencies),
                      "units": [f"{a}/{u}" for a, u in sorted(roles.units)],
                      "csrf": secrets.token_urlsafe(32), "id_token": id_token,
                      "until": int(time.time()) + self.max_age_s})
        get_logger(component="staff_signin").info("signed_in", subject=claims["sub"], roles=roles.names())
        raise web.HTTPFound(flow.get("next", "/"))

    async def staff(self, request: web.Request) -> Staff | None:
        session = await get_session(request)
        sid = session.get("sid")
        if not sid or session_digest(sid) in self.signed_out or int(session.get("until", 0)) < time.time():
            return None
        roles = StaffRoles(bool(session.get("operator")), frozenset(session.get("agencies") or ()),
                           frozenset((a, u) for a, _, u in (str(x).partition("/")
                                                            for x in session.get("units") or ())))
        return Staff(sid, str(session["sub"]), str(session.get("name", "")), roles, str(session["csrf"]))

    async def action_allowed(self, request: web.Request, staff: Staff, form_token: str | None) -> bool:
        """A POST from this site carrying the session's CSRF token."""
        origin = request.headers.get("Origin")
        if origin is not None and origin != self.site(request):
            return False
        given = form_token or request.headers.get("X-CSRF-Token") or ""
        return hmac.compare_digest(given.encode(), staff.csrf.encode())

    async def logout(self, request: web.Request) -> web.StreamResponse:
        staff = await self.staff(request)
        form = await request.post()
        token = form.get("csrf")
        if staff is None or not await self.action_allowed(request, staff, token if isinstance(token, str) else None):
            return web.json_response({"error": "not signed in, or the form is not this site's"}, status=403)
        session = await get_session(request)
        id_token = session.get("id_token")
        digest, until = session_digest(staff.session_id), float(session.get("until", 0))
        self.revoke(digest, until)
        if self.announce is not None:
            try:  # every other worker of the site refuses the session from now on
                await self.announce(digest, until)
            except Exception as exc:  # signed out here and in the browser; the others may not know
                get_logger(component="staff_signin").error("sign_out_not_shared", error=type(exc).__name__)
        session.invalidate()
        get_logger(component="staff_signin").info("signed_out", subject=staff.subject)
        after = await self.provider.sign_out_url(id_token, f"{self.site(request)}/")
        raise web.HTTPFound(after or "/")

    def revoke(self, digest: str, until: float) -> None:
        """A session signed out (here or on another worker): refused until it would have ended."""
        now = time.time()
        if until <= now:
            return
        if len(self.signed_out) > 1000:  # those past their end mean nothing any more
            self.signed_out = {s: u for s, u in self.signed_out.items() if u > now}
        self.signed_out[digest] = until

    @staticmethod
    def refusal(message: str) -> web.Response:
        return web.Response(status=403, content_type="text/html", charset="utf-8",
                            text="<!doctype html><html lang=\"id\"><title>Gagal masuk</title><h1>Gagal masuk</h1>"
                                 f"<p>{html.escape(message)}</p>"  # the check's own words, for support
                                 '<p><a href="/auth/login">Masuk lagi</a></p></html>')
