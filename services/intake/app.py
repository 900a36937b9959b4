"""The intake worker: complaints.submitted.v1 and channels.sms.v1 in; complaints.accepted.v1
and dead letters out. Wiring only: decisions are in `handlers`, the runtime in
`services.runtime.faust_runtime`."""

from __future__ import annotations


from services.intake.compose import build
from services.runtime.faust_runtime import StageApp, create_app as stage_app
from services.runtime.settings import Settings


def create_app(settings: Settings) -> StageApp:
    return stage_app(build(settings), settings)
