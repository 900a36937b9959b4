"""A simulated year through the three stages on the in-memory runtime (the real handlers):
does state follow what is open, not everything ever seen?

Usage: .venv/bin/python bench/year.py [COMPLAINTS] [--dedup-days N] [--restart]
       (default 200000, 30; --restart: measure real restarts, on the embedded broker)

Complaints arrive through the working hours of every day of 2026; agencies acknowledge
within 0-4 days, respond within 1-8 days, a few refuse once (re-route) or never answer; the
reporter does not reply, so the SLA monitor auto-closes 10 working days after the response.
Ticks come every hour of event time. At the end of each month it prints, per store, the live
keys and their bytes (key + JSON value: what a compacted changelog holds once tombstones
are cleaned), and the time a worker with no local state would need to replay them at the
~5,000 records/s faust recovery rate measured here (bench/sla_recovery.py): an estimate, not
a restart. With --restart, at each month's end the router's and the SLA monitor's live state is
written to changelog topics (keys and values as the workers write them, each on its partition)
and a real worker of each is started on them: the seconds to "Worker ready" are measured.
Dedup entries are kept `--dedup-days` (the production default is 400 days, one
year and a margin: then intake's store grows for 400 days and is flat after).
"""

from __future__ import annotations

import heapq
import json
import random
import sys
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from services.intake.compose import build as build_intake  # noqa: E402
from services.router.compose import build as build_router  # noqa: E402
from services.runtime.memory import MemoryTopics, MemoryWorker, run_until_idle  # noqa: E402
from services.runtime.settings import Settings  # noqa: E402
from services.runtime.topics import CLAIMS, ROUTED, SUBMITTED, TICKS  # noqa: E402
from services.sla_monitor.compose import build as build_sla  # noqa: E402
from services.tools.generator import TEXTS  # noqa: E402

WIB = timedelta(hours=7)
RECOVERY_RECORDS_PER_S = 5_000
START = datetime(2026, 1, 1, tzinfo=UTC)


def local(at: datetime) -> str:
    return at.astimezone(timezone(WIB)).isoformat()


def state_size(worker: MemoryWorker) -> dict[str, tuple[int, int]]:
    return {name: (len(store), sum(len(k) + len(json.dumps(v)) for k, v in store.items()))
            for name, store in worker.stores.items()}


class Year:
    def __init__(self, n: int, dedup_days: int, partitions: int = 4, restarts: Settings | None = None):
        self.restarts = restarts
        settings = Settings(partitions=partitions, dedup_retention_days=dedup_days)
        self.topics = MemoryTopics(partitions)
        self.workers = [MemoryWorker(build(settings), self.topics, batch_max=500)
                        for build in (build_intake, build_router, build_sla)]
        self.n, self.partitions, self.rnd = n, partitions, random.Random(2026)
        self.future: list[tuple[float, int, str, bytes, bytes]] = []  # (time, seq, topic, key, value)
        self.seq = 0
        self.routed_seen = 0

    def schedule(self, at: datetime, topic: str, key: str, value: dict[str, object]) -> None:
        self.seq += 1
        heapq.heappush(self.future, (at.timestamp(), self.seq, topic, key.encode(),
                                     json.dumps(value).encode()))

    def submit(self, i: int, at: datetime) -> None:
        sid = f"y-{i}"
        text, region = TEXTS[i % len(TEXTS)]
        self.schedule(at, SUBMITTED, sid, {"submission_id": sid, "channel": "web",
                                           "submitted_at": local(at), "body": text,
                                           "location": {"region_code": region}})

    def agency_answers(self) -> None:
        """Plan each newly routed complaint's statuses, as its agency would send them."""
        order = self.topics.order
        for record in order[self.routed_seen:]:
            if record.topic != ROUTED:
                continue
            event = json.loads(record.value or b"{}")
            if event["role"] != "primary" or event["agency_id"] is None or event["attempt"] > 1:
                continue
            cid, agency, at = event["complaint_id"], event["agency_id"], datetime.fromisoformat(event["routed_at"])
            luck = self.rnd.random()
            if luck < 0.03:
                continue  # never answers: escalations, then it stays open
            if luck < 0.06:
                self.status(cid, "not_our_authority", agency, at + timedelta(hours=20))
                continue  # re-routed; the next agency is silent too
            ack = at + timedelta(hours=self.rnd.uniform(1, 96))
            self.status(cid, "acknowledged", agency, ack)
            self.status(cid, "responded", agency, ack + timedelta(hours=self.rnd.uniform(24, 190)))
        self.routed_seen = len(order)

    def status(self, cid: str, kind: str, agency: str, at: datetime) -> None:
        self.schedule(at, CLAIMS, cid, {"event_id": f"y-{cid}-{kind}", "complaint_id": cid,
                                        "status": kind, "agency_id": agency,
                                        "at": local(at)})

    def run(self) -> None:
        days = 365
        per_day = self.n / days
        i, now, t0 = 0, START, time.monotonic()
        print(f"{self.n:,} complaints over 2026, {self.partitions} partitions, hourly ticks")
        print(f"{'month':8} {'accepted':>9} {'open':>7} | live keys (bytes): "
              f"intake seen | router holdings | sla clocks | sla due | sla other | replay s"
              + (" | restart router, sla (measured)" if self.restarts else ""))
        month = START.month
        while now < START + timedelta(days=days):
            hour_end = now + timedelta(hours=1)
            local_hour = (now + WIB).hour
            if 8 <= local_hour < 16:  # complaints come in working hours, every day
                quota = int(per_day / 8 * (1 + (now.timetuple().tm_yday % 7) / 10))
                for _ in range(quota):
                    if i < self.n:
                        self.submit(i, now + timedelta(seconds=self.rnd.uniform(0, 3599)))
                        i += 1
            while self.future and self.future[0][0] < hour_end.timestamp():
                at, _, topic, key, value = heapq.heappop(self.future)
                self.topics.publish(topic, key, value, timestamp=at)
            run_until_idle(self.workers)
            tick = json.dumps({"as_of": hour_end.isoformat()}).encode()
            for p in range(self.partitions):
                self.topics.publish(TICKS, None, tick, partition=p, timestamp=hour_end.timestamp())
            run_until_idle(self.workers)
            self.agency_answers()
            now = hour_end
            if now.month != month:
                self.report(now - timedelta(days=1), i, time.monotonic() - t0)
                month = now.month

    def report(self, at: datetime, accepted: int, seconds: float) -> None:
        intake, router, sla = (state_size(w) for w in self.workers)
        clocks = sla["clocks"]
        other = [sla[s] for s in ("marks", "stats", "overdue")]
        open_now = sum(1 for k, v in self.workers[2].stores["clocks"].items()
                       if not k.startswith("pending:") and not v.get("closed"))
        live = (intake["seen-submitted"][0] + router["holdings"][0] + clocks[0] + sla["due"][0]
                + sum(o[0] for o in other))

        def cell(size: tuple[int, int]) -> str:
            return f"{size[0]:>7,} ({size[1] / 2**20:5.1f} MiB)"

        print(f"{at:%Y-%m} {accepted:9,} {open_now:7,} | {cell(intake['seen-submitted'])} | "
              f"{cell(router['holdings'])} | {cell(clocks)} | {cell(sla['due'])} | "
              f"{sum(o[0] for o in other):>6,} | {live / RECOVERY_RECORDS_PER_S:6.1f}"
              + (" | {:5.1f} s, {:5.1f} s".format(*self.measure_restarts()) if self.restarts else "")
              + f"   [{seconds:.0f} s]", flush=True)

    def measure_restarts(self) -> tuple[float, float]:
        """Seconds to "Worker ready" of a router and an SLA worker started on changelogs that
        hold exactly this month's live state (fresh topics each time)."""
        from bench.restart import time_to_ready

        assert self.restarts is not None
        return (time_to_ready(self.restarts, "router", self.workers[1].stores),
                time_to_ready(self.restarts, "sla_monitor", self.workers[2].stores))


def main() -> None:
    args = sys.argv[1:]
    n = int(next((a for a in args if a.isdigit()), 200_000))
    dedup_days = int(args[args.index("--dedup-days") + 1]) if "--dedup-days" in args else 30
    if "--restart" not in args:
        Year(n, dedup_days).run()
        return
    from bench.broker_session import bench_broker

    with bench_broker(partitions=4) as base:
        Year(n, dedup_days, restarts=base).run()


if __name__ == "__main__":
    main()
