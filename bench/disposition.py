"""How fast the disposition stage decides, and what every agency's units cost in memory.

Usage: .venv/bin/python bench/disposition.py [N]     (default 100,000 complaints)

The stage's decision (services/disposition/handlers.py: parse the agency complaint, match the
agency's rules in force, write the status) is run on N complaints spread over every regional
government and national agency of the registry, with the categories, texts and regions a
year brings, as the topic's bytes through the same handler the worker calls. It prints the
complaints decided per second, the share dispositioned by a rule, and the resident memory of
a worker holding every agency's units (the starting sets of all 570+ agencies, built on
first use as the worker does). Reading from and writing to Kafka come on top.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.sla_state import rss_mib  # noqa: E402
from schemas import Category  # noqa: E402
from services.disposition.compose import starting_book  # noqa: E402
from services.disposition.handlers import handler  # noqa: E402
from services.domain.registry import load_registry  # noqa: E402
from services.runtime.settings import Settings  # noqa: E402
from services.runtime.stage import Record, StagedStores  # noqa: E402
from services.runtime.topics import agency_topic_name  # noqa: E402

TEXTS = ["Jalan rusak berlubang di depan pasar", "Lampu jalan mati sejak seminggu",
         "Sampah menumpuk di pinggir sungai", "Puskesmas tutup di jam pelayanan",
         "Bantuan sosial PKH belum cair", "KTP elektronik belum jadi tiga bulan",
         "Listrik padam setiap malam", "Guru honorer belum digaji"]


def complaints(n: int, seed: int = 7) -> list[tuple[str, bytes]]:
    rng = random.Random(seed)
    registry = load_registry()
    agencies = sorted(registry.ids())
    out = []
    for i in range(n):
        agency = rng.choice(agencies)
        region = (registry.get(agency).regions or ("31.71",))[0]  # type: ignore[union-attr]
        body = {"event_id": f"dlv-{i}", "complaint_id": f"LPR-{i:012d}",
                "submission_id": f"web-{i}", "channel": "web", "submitted_at": "2026-03-02T09:15:00+07:00",
                "accepted_at": "2026-03-02T09:15:01+07:00", "body": rng.choice(TEXTS),
                "type": "complaint", "category": rng.choice(list(Category)).value,
                "sla_tier": "standard_5d", "location": {"region_code": region},
                "agency_id": agency, "routing": {"role": "primary", "rule_id": "x",
                                                 "routed_at": "2026-03-02T09:20:00+07:00", "attempt": 1}}
        out.append((agency, json.dumps(body).encode()))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("n", nargs="?", type=int, default=100_000)
    n = parser.parse_args().n
    work = complaints(n)
    before = rss_mib()
    handle = handler(starting_book(Settings()))
    started = time.perf_counter()
    disposed = 0
    for offset, (agency, value) in enumerate(work):
        out = handle(Record(agency_topic_name(agency), 0, offset, 1.0e9, None, value), StagedStores({}))
        disposed += len(out.outputs)
    took = time.perf_counter() - started
    print(f"{n:,} complaints over {len({a for a, _ in work}):,} agencies: {n / took:,.0f} decided/s "
          f"({took:.1f} s); {disposed / n:.0%} dispositioned by a rule")
    print(f"resident memory: {rss_mib():.0f} MiB ({rss_mib() - before:+.0f} MiB for every agency's "
          "units and the stage)")


if __name__ == "__main__":
    main()
