"""Staff sign-in at the HTTP level, against the real provider the test session runs: the
flow asks for the code with PKCE (S256) and a nonce and keeps its state in a cookie that is
HttpOnly, Secure and SameSite=Lax; a callback that is not the one started here, or whose code
the provider refuses, signs nobody in; an ID token signed by another key, for another
client, or with another nonce is refused."""

from __future__ import annotations

import base64
import os
import secrets
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestServer, make_mocked_request
from aiohttp_session import get_session, new_session
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from services.runtime.settings import Settings
from services.domain.calendar import load_calendar
from services.domain.registry import load_registry
from services.domain.staff_roles import StaffRoles
from services.ops_view.handlers import BOARD, TIMELINES
from services.ops_view.web import OpsSite
from services.web.staff_signin import OidcProvider, SignInError, Staff, StaffSignIn, safe_next
from services.tools.signin_provider import RunningProvider, client_settings
from tests.web_sites import served


@pytest.fixture
async def site(signin_provider: RunningProvider, tmp_path: Path) -> AsyncIterator[TestServer]:
    settings = Settings(**client_settings(signin_provider, tmp_path))  # type: ignore[arg-type]
    signin = StaffSignIn.from_settings(settings, "lapor_test")

    async def private(request: web.Request) -> web.Response:
        staff = await signin.staff(request)
        return web.json_response({"staff": staff.name if staff else None})

    app = web.Application()
    signin.install(app)
    app.router.add_get("/private", private)
    async with served(app) as server:
        yield server


async def test_the_flow_uses_pkce_and_a_nonce_and_keeps_its_state_in_a_strict_cookie(
        site: TestServer, signin_provider: RunningProvider) -> None:
    async with ClientSession() as http:
        answer = await http.get(site.make_url("/auth/login?next=//evil.example/x"), allow_redirects=False)
        assert answer.status == 302
        target = urlsplit(answer.headers["Location"])
        query = parse_qs(target.query)
        assert f"{target.scheme}://{target.netloc}{target.path}".startswith(signin_provider.issuer)
        assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) >= 43
        assert query["response_type"] == ["code"] and "openid" in query["scope"][0].split()
        assert query["nonce"][0] and query["state"][0]
        assert query["redirect_uri"] == [str(site.make_url("/auth/callback"))]
        cookie = answer.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=Lax" in cookie
        # The provider itself shows its login form for this very request.
        form = await http.get(answer.headers["Location"])
        assert form.status == 200 and 'id="kc-form-login"' in await form.text()


async def test_a_callback_not_started_here_or_with_a_refused_code_signs_nobody_in(site: TestServer) -> None:
    async with ClientSession() as http:
        stranger = await http.get(site.make_url("/auth/callback?state=guessed&code=abc"))
        assert stranger.status == 403 and "start again" in await stranger.text()
        begun = await http.get(site.make_url("/auth/login"), allow_redirects=False)
        state = parse_qs(urlsplit(begun.headers["Location"]).query)["state"][0]
        # aiohttp's client keeps a Secure cookie only for https: hand it back as a browser
        # on 127.0.0.1 does.
        cookie = begun.headers["Set-Cookie"].split(";", 1)[0]
        # A flow begun here, answered with another state (a login CSRF): refused.
        crossed = await http.get(site.make_url(f"/auth/callback?state={state}x&code=abc"),
                                 headers={"Cookie": cookie})
        assert crossed.status == 403 and "start again" in await crossed.text()
        forged = await http.get(site.make_url(f"/auth/callback?state={state}&code=forged"),
                                headers={"Cookie": cookie})
        assert forged.status == 403 and "refused the code" in await forged.text()
        who = await http.get(site.make_url("/private"), headers={"Cookie": cookie})
        assert (await who.json()) == {"staff": None}


def test_only_paths_on_this_site_are_followed_after_sign_in() -> None:
    assert safe_next("/a/pln/c/LPR-1?x=1") == "/a/pln/c/LPR-1?x=1"
    for bad in ("//evil.example", "/\\evil.example", "https://evil.example/", "", None,
                "/\t/evil.example/phish", "/\n/evil.example", "/\r/evil.example", "/ /evil.example",
                "/a\\..\\\\evil.example", "/\x00/evil.example", "/\x7f/evil.example"):
        assert safe_next(bad) == "/"
    # Encoded forms stay paths on this site: nothing decodes them before the browser does,
    # and the browser reads them as a path (never as `//host`).
    for encoded in ("/%2F%2Fevil.example", "/%5Cevil.example", "/%09/evil.example", "/%2f/evil"):
        kept = web.HTTPFound(safe_next(encoded)).headers["Location"]
        assert kept.startswith("/") and not kept.startswith("//") and "\\" not in kept


async def test_id_tokens_are_checked_against_the_providers_keys_client_and_nonce() -> None:
    key = RSAKey.generate_key(2048, parameters={"kid": "k1", "alg": "RS256", "use": "sig"}, private=True)
    other = RSAKey.generate_key(2048, parameters={"kid": "k1", "alg": "RS256", "use": "sig"}, private=True)
    provider = OidcProvider("https://id.example/realms/lapor", "lapor-staff", "secret")
    provider._metadata = {"issuer": provider.issuer, "jwks_uri": "https://id.example/unused"}
    provider._keys = KeySet.import_key_set(KeySet([key]).as_dict(private=False))

    async def keep(refresh: bool = False) -> KeySet:  # no network: the keys are the provider's
        assert provider._keys is not None
        return provider._keys
    provider.keys = keep  # type: ignore[method-assign]
    now = int(time.time())
    claims = {"iss": provider.issuer, "aud": "lapor-staff", "sub": "u1", "exp": now + 300, "iat": now,
              "nonce": "n1", "groups": ["agency-pln"]}

    def token(signer: RSAKey, **change: object) -> str:
        return jwt.encode({"alg": "RS256", "kid": "k1"}, {**claims, **change}, signer)
    assert (await provider.verify(token(key), "n1"))["groups"] == ["agency-pln"]
    for bad, nonce in ((token(other), "n1"), (token(key), "n2"), (token(key, aud="another-client"), "n1"),
                       (token(key, iss="https://evil.example"), "n1"), (token(key, exp=now - 3600), "n1")):
        with pytest.raises(SignInError):
            await provider.verify(bad, nonce)


async def test_behind_a_tls_proxy_the_public_url_makes_the_redirect_uri_and_the_origin(
        signin_provider: RunningProvider, tmp_path: Path) -> None:
    """The proxy talks http to the site under its own Host: the browser's origin is the
    public URL, and only a form from it is this site's."""
    settings = Settings(**client_settings(signin_provider, tmp_path))  # type: ignore[arg-type]
    public = "https://desk.lapor.example:8443"
    signin = StaffSignIn.from_settings(settings, "lapor_test", public + "/")
    app = web.Application()
    signin.install(app)
    async with served(app) as server, ClientSession() as http:
        answer = await http.get(server.make_url("/auth/login"), allow_redirects=False)
        query = parse_qs(urlsplit(answer.headers["Location"]).query)
        assert query["redirect_uri"] == [f"{public}/auth/callback"]
    staff = Staff("sid", "sub", "name", StaffRoles(False, frozenset({"pln"})), "token")
    local = f"http://127.0.0.1:{server.port}"

    def posted(origin: str) -> web.Request:
        return make_mocked_request("POST", "/act", headers={"Origin": origin, "Host": f"127.0.0.1:{server.port}"})

    assert await signin.action_allowed(posted(public), staff, "token")
    assert not await signin.action_allowed(posted(local), staff, "token")  # what the proxy's request says
    assert not await signin.action_allowed(posted(public), staff, "another token")
    with pytest.raises(ValueError, match="public URL"):
        StaffSignIn.from_settings(settings, "lapor_test", "https://desk.lapor.example/desk")


async def test_each_site_with_its_own_key_reads_no_session_the_other_made(
        signin_provider: RunningProvider, tmp_path: Path) -> None:
    """A desk's key cannot make or read an operations-page session (LAPOR_DESK_SESSION_KEY_FILE
    and LAPOR_OPS_SESSION_KEY_FILE); with the one staff key both would."""
    settings = Settings(**client_settings(signin_provider, tmp_path))  # type: ignore[arg-type]
    keys = {}
    for site in ("desk", "ops"):
        keys[site] = tmp_path / f"{site}-session.key"
        keys[site].write_text(base64.urlsafe_b64encode(os.urandom(32)).decode() + "\n")
        keys[site].chmod(0o600)

    async def session_seen(maker: StaffSignIn, reader: StaffSignIn) -> object:
        async def make(request: web.Request) -> web.Response:
            (await new_session(request))["sid"] = "made-here"
            return web.Response(text="ok")

        async def read(request: web.Request) -> web.Response:
            return web.json_response({"sid": (await get_session(request)).get("sid")})

        one, two = web.Application(), web.Application()
        maker.install(one)
        reader.install(two)
        one.router.add_get("/make", make)
        two.router.add_get("/read", read)
        async with served(one) as a, served(two) as b, ClientSession() as http:
            made = await http.get(a.make_url("/make"))
            cookie = made.headers["Set-Cookie"].split(";")[0]
            read_back = await http.get(b.make_url("/read"), headers={"Cookie": cookie})
            return (await read_back.json())["sid"]

    desk = StaffSignIn.from_settings(settings, "lapor_test", key_file=keys["desk"])
    ops = StaffSignIn.from_settings(settings, "lapor_test", key_file=keys["ops"])
    shared = StaffSignIn.from_settings(settings, "lapor_test")
    assert await session_seen(desk, ops) is None
    assert await session_seen(shared, StaffSignIn.from_settings(settings, "lapor_test")) == "made-here"


def session_maker(signin: StaffSignIn) -> web.Application:
    """An app with the site's session storage that opens a session as the callback would."""
    async def make(request: web.Request) -> web.Response:
        session = await new_session(request)
        session.update({"sid": secrets.token_urlsafe(16), "sub": "u-1", "name": "someone",
                        "operator": request.query.get("operator") == "1",
                        "agencies": [a for a in [request.query.get("agency")] if a],
                        "csrf": "token", "id_token": None, "until": int(time.time()) + 3600})
        return web.Response(text="ok")

    app = web.Application()
    signin.install(app)
    app.router.add_get("/make", make)
    return app


async def test_the_operations_page_serves_national_operators_only_with_its_signed_in_headers(
        signin_provider: RunningProvider, tmp_path: Path) -> None:
    settings = Settings(**client_settings(signin_provider, tmp_path))  # type: ignore[arg-type]
    signin = StaffSignIn.from_settings(settings, "lapor_ops")
    site = OpsSite({BOARD: {}, TIMELINES: {}}, load_registry(None), load_calendar(None),
                   settings.ops_hosts(), signin=signin)
    async with served(session_maker(StaffSignIn.from_settings(settings, "lapor_ops"))) as maker, \
            served(site.app()) as page, ClientSession() as http:
        async def as_(query: str) -> dict[str, str]:
            if not query:
                return {}
            async with http.get(maker.make_url(f"/make?{query}")) as made:
                return {"Cookie": made.headers["Set-Cookie"].split(";")[0]}

        async def answer(path: str, query: str) -> tuple[int, dict[str, str]]:
            async with http.get(page.make_url(path), headers=await as_(query), allow_redirects=False) as got:
                return got.status, dict(got.headers)

        assert (await answer("/api/overview", ""))[0] == 401  # a stranger: sign in first
        status, headers = await answer("/", "")
        assert status == 302 and headers["Location"] == "/auth/login?next=/"
        assert (await answer("/api/overview", "agency=pln"))[0] == 403  # agency staff: not here
        # The desk's cookie (its own name and key) is nobody here.
        desk_key = tmp_path / "desk-session.key"
        desk_key.write_text(base64.urlsafe_b64encode(os.urandom(32)).decode() + "\n")
        desk_key.chmod(0o600)
        desk = StaffSignIn.from_settings(settings, "lapor_desk", key_file=desk_key)
        async with served(session_maker(desk)) as desk_maker:
            async with http.get(desk_maker.make_url("/make?operator=1")) as made:
                desk_cookie = made.headers["Set-Cookie"].split(";")[0].replace("lapor_desk=", "lapor_ops=")
            async with http.get(page.make_url("/api/overview"), headers={"Cookie": desk_cookie}) as got:
                assert got.status == 401
        assert (await answer("/", "agency=pln"))[0] == 403
        status, headers = await answer("/api/overview", "operator=1")
        assert status == 200
        # Signed-in headers: forms post to the site and the provider only, real Origin sent.
        assert headers["Referrer-Policy"] == "same-origin"
        assert f"form-action 'self' {signin.provider.origin}" in headers["Content-Security-Policy"]
        assert headers["X-Frame-Options"] == "DENY"
