"""Composition root of the operations view: the stage built from settings."""

from __future__ import annotations

from services.domain.registry import load_registry
from services.ops_view.handlers import MODELS, STAGE, STORES, OpsHandlers
from services.runtime.settings import Settings
from services.runtime.stage import Stage


def build(settings: Settings) -> Stage:
    handlers = OpsHandlers(load_registry(settings.agencies_file), settings.ops_timeline_days,
                           settings.ops_compliance_days)
    return Stage(STAGE, tuple(MODELS), STORES, handlers.handle)
