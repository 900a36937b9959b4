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


SERVICES = ("intake", "router", "sla_monitor")


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    """Run one service as a faust worker (scale out by starting more of them)."""
    import importlib

    from faust.worker import Worker

    if args.web_port is not None:
        settings = settings.model_copy(update={"web_port": args.web_port})
    from services.common.offsets import ensure_committed_offsets

    module = importlib.import_module(f"services.{args.service}.app")
    app = module.create_app(settings)
    sources = [name for agent in app.agents.values() for name in agent.channel.topics]
    asyncio.run(ensure_committed_offsets(settings.bootstrap_servers, app.conf.id, sources))
    worker = Worker(app, loglevel=settings.log_level.lower(), quiet=True,
                    override_logging=False)
    worker.execute_from_commandline()
    return 0


def register(sub: Any) -> None:
    d = sub.add_parser("demo", help="run the whole pipeline on the embedded broker")
    d.set_defaults(handler=_demo)

    w = sub.add_parser("worker", help="run a service as a faust worker")
    w.add_argument("service", choices=SERVICES)
    w.add_argument("--web-port", type=int, default=None, help="port of this worker's web view")
    w.set_defaults(handler=_worker)
