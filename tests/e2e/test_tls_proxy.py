"""The web doors as the internet sees them: Debian's nginx in front (the configuration `lapor
proxy config` writes, TLS with a certificate from the deployment's CA, one port, a name per
site), the desk, the operations page and lacak behind it on the broker with the pipeline,
staff signing in with the real provider, in Chromium over https only.

The sites know their public URLs (LAPOR_DESK_PUBLIC_URL, ...) and trust the proxy's
X-Forwarded-For (LAPOR_TRUSTED_PROXIES=127.0.0.1); each answers only its public name.

PLN's user signs in to the desk through the proxy (the provider redirects back to the
https callback), acknowledges a complaint (the form's POST carries the public origin), and
signs out; a copy of the session cookie taken before sign-out worked, and is refused after.
A national operator signs in to the operations page and its live stream connects. A
reporter looks the complaint up on lacak and sees it acknowledged, with HSTS. Two reporters
behind the proxy have a budget each: one who writes X-Forwarded-For himself still runs out
of his own, and the other is still answered. No page of ours logs a console error."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import Page, async_playwright

from tests.ids import make_complaint_id
from services.runtime.settings import Settings
from services.runtime.topics import SUBMITTED
from services.tools.broker import free_port
from services.tools.signin_provider import RunningProvider, client_settings
from services.tools.web_proxy import HSTS, sites_from_settings
from tests.e2e.test_desk import answering, eventually, shows, sign_in, submission
from tests.harness import harness
from tests.staff_browser import CHROMIUM, watch_console
from tests.tls_proxy import RunningProxy, tls_proxy

pytestmark = pytest.mark.broker


async def lacak_budget(proxy: RunningProxy, port: int, source: str, path: str,
                       forged: bool, most: int = 40) -> list[int]:
    """The statuses of up to `most` lookups from `source` through the proxy (TLS verified
    against the CA), until the first 429; `forged`: each with an X-Forwarded-For of its own."""
    statuses: list[int] = []
    connector = aiohttp.TCPConnector(ssl=proxy.ssl_context(), local_addr=(source, 0))
    async with aiohttp.ClientSession(connector=connector) as http:
        for n in range(most):
            headers = {"Host": f"lacak.localhost:{port}"}
            if forged:
                headers["X-Forwarded-For"] = f"198.51.100.{n}"
            async with http.get(f"https://127.0.0.1:{port}{path}", server_hostname="lacak.localhost",
                                headers=headers) as answer:
                statuses.append(answer.status)
            if statuses[-1] == 429:
                break
    return statuses


async def test_staff_and_reporters_through_the_tls_proxy(
    request: pytest.FixtureRequest, broker_settings: Settings, signin_provider: RunningProvider,
    tmp_path: Path,
) -> None:
    tls, desk_port, ops_port, lacak_port = free_port(), free_port(), free_port(), free_port()
    desk, ops, lacak = (f"https://{site}.localhost:{tls}" for site in ("desk", "ops", "lacak"))
    now = datetime.now(UTC).replace(microsecond=0)
    cid = make_complaint_id("web", "proxy-ack")
    errors: list[str] = []
    async with harness(request, "broker", ["intake", "router", "status_gate", "ops_view", "desk", "lacak"], tmp_path,
                       agencies=("pln",), desk_port=desk_port, ops_port=ops_port, lacak_port=lacak_port,
                       trusted_proxies="127.0.0.1", desk_public_url=desk, ops_public_url=ops,
                       lacak_public_url=lacak, desk_allowed_hosts="desk.localhost",
                       ops_allowed_hosts="ops.localhost", lacak_allowed_hosts="lacak.localhost",
                       **client_settings(signin_provider, tmp_path / "signin")) as h, \
            async_playwright() as pw:
        await h.publish(SUBMITTED, [submission("proxy-ack", "Token listrik PLN tidak masuk sejak kemarin",
                                               now, title="Token listrik")])
        await h.tick(now.isoformat())
        for port in (desk_port, ops_port, lacak_port):
            await answering(f"http://127.0.0.1:{port}/")
        with tls_proxy(h.settings, sites_from_settings(h.settings)) as proxy:
            browser = await pw.chromium.launch(executable_path=CHROMIUM,
                                               args=["--no-sandbox", *proxy.chromium_args()])
            ours = (desk, ops, lacak)

            # --- PLN signs in over https, acknowledges its complaint -------------------
            pln_ctx = await browser.new_context()
            pln = await sign_in(pln_ctx, f"{desk}/", "pln")
            watch_console(pln, ours, errors)
            await shows(pln, f"{desk}/a/pln/", f"tr[data-complaint='{cid}']", timeout_s=90)
            await pln.click(f"a[href='/a/pln/c/{cid}']")
            await pln.click("form[data-action='acknowledged'] button")
            await pln.wait_for_selector(".notice")  # the POST's Origin is the public one
            await shows(pln, f"{desk}/a/pln/c/{cid}", ".timeline li[data-status='acknowledged']")

            # --- A copy of the session cookie works until sign-out, and not after -------
            session = [c for c in await pln_ctx.cookies() if c["name"] == "lapor_desk"]
            assert [(c["domain"], c["secure"], c["httpOnly"], c["sameSite"]) for c in session] == [
                ("desk.localhost", True, True, "Lax")]
            thief_ctx = await browser.new_context()
            await thief_ctx.add_cookies(session)  # type: ignore[arg-type]
            thief = await thief_ctx.new_page()
            copied = await thief.goto(f"{desk}/api/a/pln/queue")
            assert copied is not None and copied.status == 200
            await pln.click("form.signout button")
            await pln.wait_for_url(f"{desk}/")  # back from the provider's sign-out
            assert await pln.query_selector("a[href='/auth/login']") is not None
            copied = await thief.goto(f"{desk}/api/a/pln/queue")
            assert copied is not None and copied.status == 401

            # --- The operator's page, its live stream through the proxy ------------------
            op = await sign_in(await browser.new_context(), f"{ops}/", "operator")
            watch_console(op, ours, errors)
            await op.wait_for_selector("#live.on")

            # --- A reporter looks the complaint up on lacak ------------------------------
            track = await (await browser.new_context()).new_page()
            watch_console(track, ours, errors)
            await acknowledged_on_lacak(track, f"{lacak}/lacak?id={cid.lower()}")
            await browser.close()

            # --- Two reporters behind the proxy: a budget each ---------------------------
            api = f"/api/lacak/{cid}"
            walker = await lacak_budget(proxy, tls, "127.0.0.2", api, forged=True)
            assert walker[-1] == 429 and len(walker) <= 31, walker  # LAPOR_LACAK_PER_MINUTE (30)
            assert set(walker[:-1]) == {200}
            assert await lacak_budget(proxy, tls, "127.0.0.3", api, forged=False, most=1) == [200]
    assert errors == []


async def acknowledged_on_lacak(page: Page, url: str) -> None:
    """Until lacak shows the acknowledgement (the ops view reads it a moment after the desk);
    each look is a page load over https, with HSTS."""
    async def shown() -> bool:
        answer = await page.goto(url)
        assert answer is not None and answer.status == 200
        assert answer.headers["strict-transport-security"] == HSTS
        await page.wait_for_selector("#lacak-steps li")
        if await page.query_selector("#lacak-steps li[data-step='acknowledged']") is not None:
            return True
        await asyncio.sleep(1)
        return False
    await eventually(shown, "the acknowledgement on lacak")
    assert "Token listrik" not in await page.inner_text("body")  # its steps, never its text
