"""Composition root of the status gate: the stage built from settings (memory and broker alike)."""

from __future__ import annotations

from services.runtime.settings import Settings
from services.runtime.stage import Stage
from services.runtime.topics import (
    ADMIN_STATUS, AGENCY_STATUS_TOPIC, AUTO_DISPOSITIONS, CLOSURES, REPORTER_STATUS_TOPICS,
)
from services.status_gate.handlers import STAGE, handle


def build(settings: Settings) -> Stage:
    del settings  # nothing to configure: the topic is the authority
    return Stage(STAGE, (CLOSURES, ADMIN_STATUS, AUTO_DISPOSITIONS, *REPORTER_STATUS_TOPICS), (), handle,
                 input_families=(AGENCY_STATUS_TOPIC,))
