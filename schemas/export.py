"""JSON Schema export of the wire models, for channel and agency systems in other languages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from schemas.common import SCHEMA_VERSION, WireModel
from schemas.bridge import (
    BridgeCommand, BridgeDelivery, BridgeSeenCall, BridgeUndelivered, Open311Request, WebhookPing,
)
from schemas.events import ALL_EVENTS
from schemas.desk import StatusDraft
from schemas.staff import StaffSignOut

SCHEMA_DIR = Path(__file__).parent / "json"
ID_BASE = "https://github.com/lapor-router/lapor-router/schemas/v1/"


def render_schemas() -> dict[str, str]:
    """File name -> JSON text of every event schema, deterministic (sorted keys)."""
    out: dict[str, str] = {}
    models: tuple[type[WireModel], ...] = (*ALL_EVENTS, Open311Request, BridgeDelivery, WebhookPing,
                                            BridgeCommand, BridgeSeenCall, BridgeUndelivered,
                                            StaffSignOut, StatusDraft)
    for model in models:
        schema: dict[str, Any] = model.model_json_schema(mode="validation")
        name = f"{model.schema_name}.v{SCHEMA_VERSION}.schema.json"
        schema = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": ID_BASE + name,
            "x-topic": model.topic_name,
            "x-unknown-fields": "ignored on read; producers may add optional fields in v1",
            **schema,
        }
        out[name] = json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    return out


def export_schemas(target: Path = SCHEMA_DIR) -> list[Path]:
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render_schemas().items():
        path = target / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def stale_schemas(target: Path = SCHEMA_DIR) -> list[str]:
    """Names of committed schema files that differ from the models (or are missing/extra)."""
    expected = render_schemas()
    stale = [n for n, t in expected.items()
             if not (target / n).exists() or (target / n).read_text(encoding="utf-8") != t]
    extra = [p.name for p in target.glob("*.schema.json") if p.name not in expected]
    return sorted(stale + extra)
