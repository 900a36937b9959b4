"""The status gate worker: every agency-status.<agency_id>.v1 and the other speakers' status
topics in, status.claims.v1 and dead letters out. It keeps no state, so it runs on the plain
batched consumer (`services.runtime.stateless_runtime`), which also follows agencies
provisioned later."""

from __future__ import annotations

from services.runtime.settings import Settings
from services.runtime.stateless_runtime import StatelessWorker
from services.status_gate.compose import build


def create_app(settings: Settings) -> StatelessWorker:
    return StatelessWorker(build(settings), settings)
