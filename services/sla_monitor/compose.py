"""Composition root of the SLA monitor: the stage built from settings (in memory and on faust)."""

from __future__ import annotations

from datetime import timedelta

from services.domain.registry import load_registry
from services.domain.rules import shipped_version
from services.runtime.settings import Settings
from services.runtime.stage import Stage
from services.sla_monitor.handlers import MODELS, STAGE, STORES, SlaHandlers
from services.sla_monitor.processor import SlaProcessor


def build_processor(settings: Settings) -> SlaProcessor:
    return SlaProcessor(shipped_version(settings.calendar_file, settings.sla_policy_file),
                        load_registry(settings.agencies_file), settings.closed_grace_days,
                        settings.sla_pending_max_hours,
                        timedelta(minutes=settings.sla_allowed_lateness_minutes))


def stage_of(processor: SlaProcessor) -> Stage:
    return Stage(STAGE, tuple(MODELS), STORES, SlaHandlers(processor).handle)


def build(settings: Settings) -> Stage:
    return stage_of(build_processor(settings))
