"""The SLA monitor worker: accepted, routed, status and tick events in; escalations,
compliance statistics and auto-close statuses out. Wiring only: decisions are in `handlers`."""

from __future__ import annotations


from services.runtime.faust_runtime import StageApp, create_app as stage_app
from services.runtime.settings import Settings
from services.sla_monitor.compose import build


def create_app(settings: Settings) -> StageApp:
    return stage_app(build(settings), settings)
