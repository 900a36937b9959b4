"""Composition root of the router: the stage built from settings (in memory and on faust)."""

from __future__ import annotations

from functools import lru_cache

from services.domain.calendar import load_calendar
from services.domain.registry import load_registry
from services.domain.sla_policy import load_policy
from services.domain.unit_catalogue import starting_units
from services.router.engine import Router
from services.router.handlers import HOLDINGS, STAGE, RouterHandlers
from services.router.rules import load_rules
from services.runtime.settings import Settings
from services.runtime.stage import Stage
from services.runtime.topics import ACCEPTED, CLAIMS, TICKS


def build(settings: Settings) -> Stage:
    registry = load_registry(settings.agencies_file)
    handlers = RouterHandlers(Router(load_rules(registry, settings.routes_file), registry), registry,
                              load_calendar(settings.calendar_file),
                              load_policy(settings.sla_policy_file), settings.max_refusals,
                              settings.closed_grace_days,
                              lru_cache(maxsize=None)(starting_units(registry)))
    return Stage(STAGE, (ACCEPTED, CLAIMS, TICKS), (HOLDINGS,), handlers.handle)
