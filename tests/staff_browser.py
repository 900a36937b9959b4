"""Staff in a real browser (Debian's Chromium, driven by Playwright): signing in through the
provider's own login form, and the console errors of our pages."""

from __future__ import annotations

from playwright.async_api import BrowserContext, Page

CHROMIUM = "/usr/bin/chromium"  # Debian's package, installed by scripts/setup


async def sign_in(context: BrowserContext, url: str, user: str, password: str) -> Page:
    """Through the provider's own login form, as a person would; fails unless signed in."""
    page = await context.new_page()
    await page.goto(url)
    if await page.query_selector("a[href='/auth/login']") is not None:  # the desk's front page
        await page.click("a[href='/auth/login']")
    await page.wait_for_selector("#username")
    assert "/realms/lapor/protocol/openid-connect/auth" in page.url and "code_challenge=" in page.url
    await page.fill("#username", user)
    await page.fill("#password", password)
    await page.click("#kc-login")
    origin = "/".join(url.split("/", 3)[:3])
    await page.wait_for_url(lambda u: u.startswith(origin))
    await page.wait_for_selector("form.signout, #signout:not([hidden])")  # signed in, not refused
    return page


def watch_console(page: Page, origins: tuple[str, ...], errors: list[str]) -> None:
    """Collect the console errors and uncaught exceptions of our own pages (not the provider's)."""
    page.on("console", lambda m: errors.append(f"{page.url}: {m.text}")
            if m.type == "error" and page.url.startswith(origins) else None)
    page.on("pageerror", lambda e: errors.append(f"{page.url}: {e}") if page.url.startswith(origins) else None)
