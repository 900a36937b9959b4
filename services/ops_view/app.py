"""The operations view worker: contract topics in, views in its tables, the operations page and the public tracking page (lacak) out.
Wiring only: what is kept is in `handlers`, what is shown in `queries` and `web`."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import faust

from services.domain.calendar import load_calendar
from services.domain.registry import load_registry
from services.ops_view.compose import build
from services.ops_view.handlers import TIMELINES
from services.ops_view.lacak import LacakSite
from services.ops_view.web import OpsSite, serve, serve_app
from services.runtime.faust_runtime import create_app as stage_app
from services.runtime.settings import Settings


def create_app(settings: Settings) -> faust.App:
    site_registry, calendar = load_registry(settings.agencies_file), load_calendar(settings.calendar_file)

    async def page(tables: Mapping[str, Any]) -> None:
        site = OpsSite(tables, site_registry, calendar, settings.ops_hosts(),
                       settings.ops_streams_per_client)
        lacak = LacakSite(tables[TIMELINES], site_registry, settings.lacak_hosts(),
                          settings.lacak_per_minute)
        await asyncio.gather(serve(site, settings.ops_host, settings.ops_port),
                             serve_app(lacak.app(), settings.lacak_host, settings.lacak_port))

    return stage_app(build(settings), settings, serve=page)
