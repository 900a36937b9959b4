"""Composition root of intake: the stage built from settings (the same in memory and on faust)."""

from __future__ import annotations

from services.domain.complaint_id import load_key
from services.intake.classify import Classifier, load_rules
from services.intake.handlers import SEEN, STAGE, IntakeHandlers
from services.runtime.settings import Settings
from services.runtime.stage import Stage
from services.runtime.topics import SMS, SUBMITTED


def build(settings: Settings) -> Stage:
    # Without the deployment's key there is no complaint id: refuse to start (load_key says why).
    handlers = IntakeHandlers(Classifier(load_rules(settings.classification_file)),
                              settings.max_message_bytes, settings.dedup_retention_days * 86400.0,
                              load_key(settings.complaint_id_key_file))
    return Stage(STAGE, (SUBMITTED, SMS), tuple(SEEN.values()), handlers.handle)
