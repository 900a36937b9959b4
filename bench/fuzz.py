"""The long fuzz run: `.venv/bin/python bench/fuzz.py [PER_TOPIC]` (default 10,000 hostile
records on each of the nine input topics) through the four workers on the embedded broker.
Prints what was fed, how many outputs were checked against their JSON Schemas, the dead
letters by reason, and whether any worker stopped. See tests/faults/hostile.py."""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from services.runtime.settings import Settings  # noqa: E402
from services.tools import broker  # noqa: E402
from services.tools.broker_security import admin_settings  # noqa: E402
from tests.faults.fuzz_run import fuzz_on_broker  # noqa: E402
from tests.kafka_helpers import isolated  # noqa: E402


def main() -> int:
    per_topic = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    work = Path(tempfile.mkdtemp(prefix="lapor-fuzz-"))
    settings = Settings(broker_dir=work / "broker", broker_port=broker.free_port(), partitions=4,
                        web_enabled=False, access_dir=work / "access")
    settings = isolated(admin_settings(settings.model_copy(update={"bootstrap_servers": broker.start(settings)})))
    try:
        report = asyncio.run(fuzz_on_broker(settings, work, per_topic))
    finally:
        broker.stop(settings)
    print(f"fuzz run, {per_topic} hostile records per input topic (logs in {work})")
    print("\n".join(report.lines()))
    return 0 if not report.invalid and not report.stopped and report.canary_routed else 1


if __name__ == "__main__":
    raise SystemExit(main())
