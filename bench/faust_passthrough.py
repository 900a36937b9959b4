"""faust's own ceiling on this machine: a worker that reads a topic in batches
(`stream.take_events(500, within=0.01)`), parses each record's JSON and sends one record per
input through the app's producer, then awaits the acks together. No handlers, no tables: what
any faust stage here can reach at most. Run by bench/pipeline.py as a worker process:

    python bench/faust_passthrough.py SOURCE SINK      (settings from LAPOR_*)
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import faust

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from services.runtime.faust_runtime import make_app, run_worker  # noqa: E402
from services.runtime.settings import Settings  # noqa: E402


def passthrough_app(settings: Settings, source: str, sink: str) -> faust.App:
    # faust's own delivery of records (the safety patches only): the reference row.
    app = make_app(f"bench-passthrough-{source}", settings, stock_delivery=True)
    topic = app.topic(settings.topic(source), key_type=bytes, value_type=bytes,
                      key_serializer="raw", value_serializer="raw")
    sink_name = settings.topic(sink)

    @app.agent(topic)
    async def passthrough(stream: faust.StreamT[Any]) -> None:
        assert isinstance(stream, faust.Stream)
        async for events in stream.take_events(500, within=0.01):
            acks = []
            for e in events:
                json.loads(e.message.value or b"null")
                acks.append(await app.producer.send(sink_name, e.message.key, e.message.value,
                                                    None, None, None))
            await asyncio.gather(*acks)

    return app


if __name__ == "__main__":
    settings = Settings()
    run_worker(passthrough_app(settings, sys.argv[1], sys.argv[2]), settings)
