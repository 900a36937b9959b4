"""A sign-out on one worker of a staff site holds on every worker, on the real broker: the
session's cookie, replayed to the other worker after the browser dropped it, is refused
there, and by a worker started afterwards (it reads staff.signed-out.v1 from its start)."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aiohttp import ClientSession, web
from aiohttp_session import get_session, new_session

from services.runtime.settings import Settings
from services.runtime.signed_out import SharedSignOuts
from services.web.staff_signin import StaffSignIn
from services.tools.signin_provider import RunningProvider, client_settings
from tests.kafka_helpers import create_contract_topics, isolated
from tests.web_sites import served

pytestmark = pytest.mark.broker


@asynccontextmanager
async def desk_worker(settings: Settings) -> AsyncIterator[str]:
    """A desk worker's sign-in as the desk wires it, with a page that says who is signed in
    and one that opens a session (as the provider's callback would)."""
    signin = StaffSignIn.from_settings(settings, "lapor_desk")
    signouts = SharedSignOuts(settings, "desk", signin.revoke)
    await signouts.start()
    signin.announce = signouts.publish
    stopping = asyncio.Event()
    following = asyncio.create_task(signouts.run(stopping))

    async def me(request: web.Request) -> web.Response:
        staff = await signin.staff(request)
        return web.json_response({"name": staff.name if staff else None,
                                  "csrf": staff.csrf if staff else None})

    async def signed_in(request: web.Request) -> web.Response:
        session = await new_session(request)
        session.update({"sid": secrets.token_urlsafe(16), "sub": "u-1", "name": "petugas-pln",
                        "operator": False, "agencies": ["pln"], "csrf": secrets.token_urlsafe(32),
                        "id_token": None, "until": int(time.time()) + 3600})
        return web.Response(text="ok")

    app = web.Application()
    signin.install(app)
    app.router.add_get("/me", me)
    app.router.add_get("/signed-in", signed_in)
    try:
        async with served(app) as server:
            yield f"http://127.0.0.1:{server.port}"
    finally:
        stopping.set()
        await following
        await signouts.stop()


async def who(site: str, cookie: str) -> tuple[str | None, str | None]:
    async with ClientSession() as http:
        async with http.get(f"{site}/me", headers={"Cookie": cookie}) as answer:
            body = await answer.json()
            return body["name"], body["csrf"]


async def refused_soon(site: str, cookie: str) -> None:
    for _ in range(600):
        if (await who(site, cookie))[0] is None:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{site} still accepts the signed-out session")


async def test_a_session_signed_out_on_one_worker_is_refused_by_every_worker(
        broker_settings: Settings, signin_provider: RunningProvider, tmp_path: Path) -> None:
    settings = isolated(broker_settings).model_copy(update=client_settings(signin_provider, tmp_path))
    await create_contract_topics(settings)
    async with desk_worker(settings) as first, desk_worker(settings) as second:
        async with ClientSession() as http:
            async with http.get(f"{first}/signed-in") as made:
                cookie = made.headers["Set-Cookie"].split(";")[0]
        name, csrf = await who(first, cookie)
        assert name == "petugas-pln" and (await who(second, cookie))[0] == "petugas-pln"
        async with ClientSession() as http:
            async with http.post(f"{first}/auth/logout", data={"csrf": csrf}, allow_redirects=False,
                                 headers={"Cookie": cookie, "Origin": first}) as out:
                assert out.status == 302
        assert (await who(first, cookie))[0] is None
        # The browser dropped the cookie; a copy of it (a stolen one) goes to the other worker.
        await refused_soon(second, cookie)
    async with desk_worker(settings) as later:
        await refused_soon(later, cookie)
