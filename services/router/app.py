"""The router worker: accepted complaints and status events in; agency topics, routed
decisions and triage out. Wiring only: decisions are in `handlers`."""

from __future__ import annotations


from services.router.compose import build
from services.runtime.faust_runtime import StageApp, create_app as stage_app
from services.runtime.settings import Settings


def create_app(settings: Settings) -> StageApp:
    return stage_app(build(settings), settings)
