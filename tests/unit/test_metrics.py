"""A worker's Prometheus metrics, from what a batch did."""

from __future__ import annotations

import json

from prometheus_client.parser import text_string_to_metric_families

from services.intake.compose import build as build_intake
from services.runtime.metrics import StageMetrics
from services.runtime.settings import Settings
from services.runtime.stage import Record, StagedStores, run_batch

T = "2026-03-02T09:15:00+07:00"


def samples(metrics: StageMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = metrics.exposition().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_a_batch_counts_records_outcomes_dead_letters_latency_and_lag() -> None:
    stage = build_intake(Settings())
    good = json.dumps({"submission_id": "m-1", "channel": "web", "submitted_at": T,
                       "body": "Jalan rusak"}).encode()
    records = [Record("complaints.submitted.v1", 0, 7, 1000.0, b"m-1", good),
               Record("complaints.submitted.v1", 0, 8, 1000.0, b"m-1", good),  # a duplicate
               Record("complaints.submitted.v1", 1, 3, 1000.0, b"x", b"{not json")]
    result = run_batch(stage, records, StagedStores({s.value: {} for s in stage.stores}))
    metrics = StageMetrics("intake")
    metrics.observe(records, result, 0.004, highwater=lambda r: 20 if r.partition == 0 else 4,
                    now=lambda: 1002.0)
    got = samples(metrics)
    stage_topic = (("stage", "intake"), ("topic", "complaints.submitted.v1"))
    assert got[("lapor_records_in_total", stage_topic)] == 3
    assert got[("lapor_records_out_total", (("stage", "intake"), ("topic", "complaints.accepted.v1")))] == 1
    assert got[("lapor_handled_total", (("event", "accepted"), ("stage", "intake")))] == 1
    assert got[("lapor_handled_total", (("event", "duplicate"), ("stage", "intake")))] == 1
    assert got[("lapor_dead_letters_total", (("reason", "invalid_json"), ("stage", "intake")))] == 1
    assert got[("lapor_record_age_seconds_count", (("stage", "intake"),))] == 3
    assert got[("lapor_record_age_seconds_sum", (("stage", "intake"),))] == 6.0
    assert got[("lapor_batch_seconds_count", (("stage", "intake"),))] == 1
    # Lag after the last record read of each partition: 20 - 8 - 1 and 4 - 3 - 1.
    assert got[("lapor_consumer_lag", (("partition", "0"), *stage_topic))] == 11
    assert got[("lapor_consumer_lag", (("partition", "1"), *stage_topic))] == 0


def test_the_grafana_dashboard_asks_only_for_metrics_the_workers_export() -> None:
    import re
    from pathlib import Path

    dashboard = json.loads((Path(__file__).parents[2] / "ops/grafana/dashboards/lapor.json").read_text())
    asked = {m for p in dashboard["panels"] for t in p["targets"] for m in re.findall(r"lapor_[a-z_]+", t["expr"])}
    metrics = StageMetrics("intake")
    families = {family.name for family in text_string_to_metric_families(metrics.exposition().decode())}
    known = {f"{name}{suffix}" for name in families for suffix in ("_total", "_bucket", "")}
    assert asked and asked <= known, asked - known
