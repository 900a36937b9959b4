"""Operator sub-commands beyond broker/topics/schemas (registered by the main CLI)."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from services.common.settings import Settings


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from services.common import broker
    from services.common.admin import create_topics
    from services.common.topics import catalogue

    bootstrap = broker.start(settings)
    settings = settings.model_copy(update={"bootstrap_servers": bootstrap})
    report = asyncio.run(create_topics(settings, catalogue(settings)))
    print(f"broker at {bootstrap}; {report.summary()}")
    return 0


def register(sub: Any) -> None:
    d = sub.add_parser("demo", help="run the whole pipeline on the embedded broker")
    d.set_defaults(handler=_demo)
