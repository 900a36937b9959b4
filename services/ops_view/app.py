"""The operations view worker: contract topics in, views in its tables, the operations page out
(internal: the public tracking page is lacak's own worker, services/lacak, which holds no
identity and no write access). Wiring only: what is kept is in `handlers`, what is shown in
`queries` and `web`."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from aiokafka import AIOKafkaProducer

from schemas import StatusEvent
from services.domain.calendar import load_calendar
from services.domain.registry import load_registry
from services.ops_view.compose import build
from services.ops_view.web import OpsSite, serve
from services.runtime.faust_runtime import StageApp, create_app as stage_app
from services.runtime.kafka_client import aiokafka_options
from services.web.forwarded import trusted_networks
from services.runtime.settings import Settings
from services.runtime.signed_out import SharedSignOuts
from services.web.staff_signin import StaffSignIn
from services.runtime.topics import ADMIN_STATUS

COOKIE = "lapor_ops"


def create_app(settings: Settings) -> StageApp:
    site_registry, calendar = load_registry(settings.agencies_file), load_calendar(settings.calendar_file)
    # Without a provider the page has no sign-in: publish it on a loopback address only
    # (compose does: 127.0.0.1:8070), and it offers no triage action.
    signin = (StaffSignIn.from_settings(settings, COOKIE, settings.ops_public_url,
                                        settings.ops_session_key_file)
              if settings.oidc_issuer else None)

    async def page(tables: Mapping[str, Any]) -> None:
        producer, signouts, following = None, None, None
        if signin is not None:  # the triage action's `assigned`; sign-outs shared by workers
            producer = AIOKafkaProducer(**aiokafka_options(settings), acks="all", enable_idempotence=True)
            await producer.start()
            signouts = SharedSignOuts(settings, "ops", signin.revoke)
            await signouts.start()
            signin.announce = signouts.publish
            following = asyncio.create_task(signouts.run(asyncio.Event()), name="sign-outs")

        async def assign(event: StatusEvent) -> None:
            assert producer is not None
            await producer.send_and_wait(settings.topic(ADMIN_STATUS), event.to_bytes(),
                                         key=event.complaint_id.encode())

        site = OpsSite(tables, site_registry, calendar, settings.ops_hosts(),
                       settings.ops_streams_per_client, signin, assign,
                       trusted_networks(settings.trusted_proxies))
        try:
            await serve(site, settings.ops_host, settings.ops_port)
        finally:
            if following is not None:
                following.cancel()
                await asyncio.gather(following, return_exceptions=True)
            if signouts is not None:
                await signouts.stop()
            if producer is not None:
                await producer.stop()

    return stage_app(build(settings), settings, serve=page)
