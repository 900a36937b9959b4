"""Where a stage's time goes, without Kafka: the three stages' real handlers on the in-memory
runtime over N web complaints, under cProfile. Prints each stage's handler rate and the top
functions by own time (compare with bench/pipeline.py to see what faust and Kafka add).

Usage: .venv/bin/python bench/profile_stages.py [N]      (default 20000)
"""

from __future__ import annotations

import cProfile
import os
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from services.intake.compose import build as build_intake  # noqa: E402
from services.router.compose import build as build_router  # noqa: E402
from services.runtime.memory import MemoryTopics, MemoryWorker, run_until_idle  # noqa: E402
from services.runtime.settings import Settings  # noqa: E402
from services.runtime.topics import SUBMITTED  # noqa: E402
from services.sla_monitor.compose import build as build_sla  # noqa: E402
from services.tools.generator import web_submission  # noqa: E402
from tests.ids import key_file  # noqa: E402

# Intake keys complaint ids with the deployment's secret: the bench uses the tests' key.
os.environ.setdefault("LAPOR_COMPLAINT_ID_KEY_FILE", str(key_file()))


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    settings = Settings(partitions=4)
    topics = MemoryTopics(settings.partitions)
    for i in range(n):
        key, value = web_submission(f"p-{i}", i, "2026-03-02T09:15:00+07:00")
        topics.publish(SUBMITTED, key, value)
    print(f"{n:,} web complaints, in memory (handlers only, no Kafka, no faust)")
    for build in (build_intake, build_router, build_sla):
        worker = MemoryWorker(build(settings), topics)
        profile = cProfile.Profile()
        t0 = time.perf_counter()
        profile.enable()
        handled = run_until_idle([worker])
        profile.disable()
        seconds = time.perf_counter() - t0
        print(f"\n== {worker.stage.name}: {handled:,} records in {seconds:.1f} s under cProfile "
              f"({handled / seconds:,.0f}/s)")
        pstats.Stats(profile).sort_stats("tottime").print_stats(12)


if __name__ == "__main__":
    main()
