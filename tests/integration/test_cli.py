"""The operator's CLI against the real broker: exit codes a script can rely on."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from services.runtime.settings import Settings
from tests.kafka_helpers import create_contract_topics, isolated


def lapor(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "services.tools.cli", *args], env=settings.environment(),
                          capture_output=True, text=True, timeout=60)


async def test_submit_status_tail_replay_and_errors(broker_settings: Settings, tmp_path: Path) -> None:
    settings = isolated(broker_settings)
    await create_contract_topics(settings, agencies=["pln"])
    ok = lapor(settings, "submit", "--body", "KTP saya belum jadi", "--set", "channel=web",
               "--set", "submission_id=cli-1")
    assert ok.returncode == 0, ok.stderr
    bad = lapor(settings, "submit", "--body", " ")
    assert bad.returncode == 2 and "invalid input" in bad.stderr and "body" in bad.stderr
    status = lapor(settings, "status", "LPR-7K2QX9M4TD5W", "acknowledged", "--agency", "pln")
    assert status.returncode == 0, status.stderr
    assert lapor(settings, "status", "LPR-7K2QX9M4TD5W", "done").returncode == 2
    replied = lapor(settings, "status", "LPR-7K2QX9M4TD5W", "reporter_replied", "--channel", "web")
    assert replied.returncode == 0 and "reporter-status.web.v1" in replied.stdout, replied.stderr
    sent = [json.loads(line)["value"] for line in lapor(
        settings, "tail", "reporter-status.web.v1").stdout.splitlines()]
    assert [(v["status"], v.get("agency_id")) for v in sent] == [("reporter_replied", None)]
    log = tmp_path / "log.jsonl"
    log.write_text(json.dumps({"topic": "sla.ticks.v1", "value": {"as_of": "2026-03-02T00:00:00+07:00"}}) + "\n")
    assert lapor(settings, "replay", str(log)).returncode == 0
    tailed = lapor(settings, "tail", "complaints.submitted.v1", "-n", "1")
    lines = [json.loads(line) for line in tailed.stdout.splitlines()]
    assert len(lines) == 1 and lines[0]["value"]["submission_id"] == "cli-1"
    ticks = [json.loads(line) for line in lapor(settings, "tail", "sla.ticks.v1").stdout.splitlines()]
    assert [t["value"]["as_of"] for t in ticks] == ["2026-03-02T00:00:00+07:00"]
    assert lapor(settings, "topics", "create").stdout.strip().endswith("nothing changed")


async def test_commands_a_service_brings_work_through_its_entry_point(
    broker_settings: Settings,
) -> None:
    # `tick`/`ticker` come from services/ticker, `routes` from services/router (entry points).
    settings = isolated(broker_settings)
    await create_contract_topics(settings)
    sent = lapor(settings, "tick", "2026-03-02T00:00:00+07:00")
    assert sent.returncode == 0 and f"sent to {settings.partitions} partitions" in sent.stdout
    counted = lapor(settings, "ticker", "--interval", "0.1", "--count", "2",
                    "--start", "2026-03-03T00:00:00+07:00", "--speed", "60")
    assert counted.returncode == 0, counted.stderr
    ticks = [json.loads(line) for line in lapor(settings, "tail", "sla.ticks.v1").stdout.splitlines()]
    assert sorted({t["partition"] for t in ticks}) == list(range(settings.partitions))
    assert len(ticks) == 3 * settings.partitions
    assert [t["value"]["as_of"] for t in ticks].count("2026-03-02T00:00:00+07:00") == settings.partitions
    assert lapor(settings, "tick", "yesterday").returncode == 2
    explained = lapor(settings, "routes", "explain", "--text", "Token listrik tidak masuk")
    assert explained.returncode == 0 and "agency:  pln" in explained.stdout
