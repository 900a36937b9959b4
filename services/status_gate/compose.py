"""Composition root of the status gate: the stage built from settings (memory and broker alike)."""

from __future__ import annotations

from services.domain.registry import load_registry
from services.runtime.settings import Settings
from services.runtime.stage import Stage
from services.runtime.topics import AGENCY_STATUS_TOPIC
from services.status_gate.handlers import STAGE, StatusGateHandlers


def build(settings: Settings) -> Stage:
    handlers = StatusGateHandlers(load_registry(settings.agencies_file))
    return Stage(STAGE, (), (), handlers.handle, input_families=(AGENCY_STATUS_TOPIC,))
