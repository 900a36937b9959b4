"""The bridge's delivery on the real broker, fed straight on the agencies' topics: a stalled
agency holds up no other and resumes in order; a refusal for good is dead-lettered with the
answer while the next complaint goes on; the metrics say who is behind and by how much; a
SIGKILL mid-delivery loses nothing; the operator's check and redelivery work."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from schemas import AgencyComplaint, RejectedEvent
from tests.ids import make_complaint_id
from services.runtime.settings import Settings
from services.runtime.topics import REJECTED, agency_status_topic_name, agency_topic_name
from services.tools.broker import free_port
from tests.agency_peers import GeoReportServer, WebhookReceiver, until, whsec
from tests.examples import VALID
from tests.kafka_helpers import consume, create_contract_topics, isolated, produce
from tests.workers import WorkerProcess, as_service


def complaint(agency: str, n: int) -> tuple[bytes, bytes]:
    cid = make_complaint_id("web", f"{agency}-{n}")
    body = {**VALID[AgencyComplaint], "event_id": f"{agency}-{n}", "complaint_id": cid, "agency_id": agency}
    return cid.encode(), json.dumps(body).encode()


def secret(tmp_path: Path, name: str) -> str:
    path = tmp_path / f"{name}.secret"
    path.write_text(whsec(name) + "\n")
    path.chmod(0o600)
    return path.name


def config(tmp_path: Path, receivers: dict[str, WebhookReceiver]) -> Path:
    agencies = {a: {"mode": "webhook", "endpoint": r.url, "secret_file": secret(tmp_path, a),
                    "rate_per_s": 50, "burst": 50} for a, r in receivers.items()}
    path = tmp_path / "bridge.yaml"
    path.write_text(json.dumps({"retry_base_s": 0.2, "retry_cap_s": 1.0, "agencies": agencies}))
    return path


def metrics(port: int) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics/", timeout=5).read().decode()
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
            for line in text.splitlines() if line.startswith("lapor_bridge")}


def ops_overview(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/overview", timeout=5) as answer:
        data: dict[str, Any] = json.loads(answer.read())
    return data


async def lapor(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI in a thread: the agency's servers run on this test's event loop."""
    return await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "services.tools.cli", *args],
        env=settings.environment(), capture_output=True, text=True, timeout=60)


async def test_a_stalled_agency_holds_up_no_other_and_resumes_in_order(
    broker_settings: Settings, tmp_path: Path,
) -> None:
    receivers = {"pln": await WebhookReceiver(whsec("pln"), mode="down").start(),
                 "bpjs-kesehatan": await WebhookReceiver(whsec("bpjs-kesehatan"), mode="slow",
                                                         delay_s=3).start(),
                 "kemensos": await WebhookReceiver(whsec("kemensos")).start()}
    receivers["kemensos"].refuse = {"kemensos-2"}
    settings = isolated(broker_settings).model_copy(update={
        "bridge_file": config(tmp_path, receivers), "bridge_port": free_port(),
        "web_enabled": True, "web_port": free_port(), "ops_port": free_port(),
        "lacak_port": free_port()})
    await create_contract_topics(settings, list(receivers))
    started = datetime.now(UTC) - timedelta(seconds=5)
    # PLN's and BPJS's complaints first, all on one partition (their order is the test's).
    for agency in ("pln", "bpjs-kesehatan"):
        await produce(settings, agency_topic_name(agency), [complaint(agency, n) for n in range(1, 4)],
                      partition=0)
    worker = WorkerProcess("bridge", settings, tmp_path / "bridge.log")
    ops = WorkerProcess("ops_view", settings.model_copy(update={"web_port": free_port()}),
                        tmp_path / "ops_view.log")
    try:
        await until(lambda: len(receivers["pln"].calls) >= 2, "PLN's failing tries")
        sent_at = time.monotonic()
        await produce(settings, agency_topic_name("kemensos"), [complaint("kemensos", n) for n in range(1, 6)])
        kemensos = receivers["kemensos"]
        await until(lambda: len(kemensos.received) == 4, "Kemensos's complaints", timeout_s=20)
        took = max(t for t, _ in kemensos.calls) - sent_at
        assert took < 5, f"Kemensos waited {took:.1f} s behind the stalled agencies"
        assert receivers["pln"].received == [] and len(receivers["bpjs-kesehatan"].received) < 3
        assert sorted(kemensos.ids()) == ["kemensos-1", "kemensos-3", "kemensos-4", "kemensos-5"]

        # The refusal is a dead letter with the answer and the original bytes.
        letters = [RejectedEvent.model_validate_json(r.value) for r in await consume(settings, REJECTED, 1)]
        assert [(d.reason, d.source_topic, d.rejected_by) for d in letters] == [
            ("bridge_refused", agency_topic_name("kemensos"), "bridge")]
        assert letters[0].errors[0].msg == "HTTP 422: unknown program code"
        assert json.loads(letters[0].raw)["event_id"] == "kemensos-2"

        seen = metrics(settings.web_port)
        assert seen['lapor_bridge_retrying{agency="pln"}'] == 1
        assert seen['lapor_bridge_pending{agency="pln"}'] == 3
        assert seen['lapor_bridge_oldest_undelivered_seconds{agency="pln"}'] > 1
        assert seen['lapor_bridge_delivered_total{agency="kemensos"}'] == 4
        assert seen['lapor_bridge_refused_total{agency="kemensos"}'] == 1
        assert seen['lapor_bridge_oldest_undelivered_seconds{agency="kemensos"}'] == 0
        # The operations page shows the same, PLN (the longest waiting) first.
        rows: list[dict[str, object]] = []

        def page_shows_it() -> bool:
            try:
                rows[:] = ops_overview(settings.ops_port)["bridge"]
            except OSError:
                return False  # the page is starting still
            return [(r["agency_id"], r["pending"], r["retrying"]) for r in rows][:1] == [("pln", 3, True)]
        await until(page_shows_it, "the bridge rows on the operations page", timeout_s=60)
        kemensos_row = next(r for r in rows if r["agency_id"] == "kemensos")
        assert (kemensos_row["delivered"], kemensos_row["refused"], kemensos_row["pending"]) == (4, 1, 0)

        # PLN is back: its complaints come in their order; BPJS's slow ones are all there.
        receivers["pln"].mode = "up"
        await until(lambda: len(receivers["pln"].received) == 3 and
                    len(receivers["bpjs-kesehatan"].received) == 3, "PLN and BPJS", timeout_s=30)
        assert receivers["pln"].ids() == ["pln-1", "pln-2", "pln-3"]
        assert receivers["bpjs-kesehatan"].ids() == ["bpjs-kesehatan-1", "bpjs-kesehatan-2", "bpjs-kesehatan-3"]
        await until(lambda: metrics(settings.web_port)['lapor_bridge_retrying{agency="pln"}'] == 0, "PLN settled")

        # The operator's commands, as the bridge's principal would run them.
        operator = as_service(settings, "bridge")
        check = await lapor(operator, "bridge", "check", "pln")
        assert check.returncode == 0 and "took a signed ping" in check.stdout, check.stderr
        assert receivers["pln"].pings == 1
        receivers["kemensos"].mode = "down"
        failing = await lapor(operator, "bridge", "check", "kemensos")
        assert failing.returncode == 1 and "answered 503" in failing.stdout
        calls = len(receivers["pln"].calls)
        again = await lapor(operator, "bridge", "redeliver", "pln", "--since", started.isoformat())
        assert again.returncode == 0, again.stderr
        assert "pln: 3 records since" in again.stdout and "3 delivered" in again.stdout
        assert len(receivers["pln"].calls) == calls + 3
        assert receivers["pln"].ids() == ["pln-1", "pln-2", "pln-3"]  # the receiver dropped the repeats
        unknown = await lapor(operator, "bridge", "check", "kemendagri-dukcapil")
        assert unknown.returncode == 2 and "not in the bridge file" in unknown.stderr
    finally:
        worker.stop()
        ops.stop()
        for r in receivers.values():
            await r.stop()
    assert worker.proc.returncode == 0
    assert "Traceback" not in worker.log_text()


async def test_a_bridge_killed_mid_delivery_loses_nothing(broker_settings: Settings, tmp_path: Path) -> None:
    pln = await WebhookReceiver(whsec("pln"), mode="slow", delay_s=0.2).start()
    settings = isolated(broker_settings).model_copy(update={
        "bridge_file": config(tmp_path, {"pln": pln}), "bridge_port": free_port()})
    await create_contract_topics(settings, ["pln"])
    await produce(settings, agency_topic_name("pln"), [complaint("pln", n) for n in range(1, 41)])
    first = WorkerProcess("bridge", settings, tmp_path / "bridge-1.log")
    try:
        await until(lambda: len(pln.received) >= 12, "the first deliveries")
        first.stop(signal.SIGKILL)
        before = len(pln.received)
        assert before < 40
        second = WorkerProcess("bridge", settings, tmp_path / "bridge-2.log")
        try:
            await until(lambda: len(pln.received) == 40, "every complaint after the restart")
        finally:
            second.stop()
    finally:
        first.stop()
        await pln.stop()
    assert sorted(pln.ids()) == sorted(f"pln-{n}" for n in range(1, 41))
    # At least once: only what was done but not yet committed (a second's worth) came twice.
    repeats = len(pln.bodies) - 40
    assert 0 <= repeats <= 10, repeats


async def test_open311_tokens_and_updates_survive_a_restart(broker_settings: Settings, tmp_path: Path) -> None:
    """A GeoReport v2 server that answers with tokens and reports FixMyStreet's extended
    updates: the token is resolved to the server's id, each update becomes one status, and a
    restarted bridge files nothing twice and repeats no status (its state topic)."""
    server = await GeoReportServer("key-bandung", tokens=True).start()
    (tmp_path / "bandung.key").write_text("key-bandung\n")
    (tmp_path / "bandung.key").chmod(0o600)
    path = tmp_path / "bridge.yaml"
    path.write_text(json.dumps({"agencies": {"pemda-32-73": {
        "mode": "open311", "endpoint": server.url, "api_key_file": "bandung.key",
        "updates": "servicerequestupdates", "poll_interval_s": 0.5,
        "default_address": "Balai Kota Bandung", "service_codes": {"default": "UMUM"}}}}))
    settings = isolated(broker_settings).model_copy(update={"bridge_file": path, "bridge_port": free_port()})
    await create_contract_topics(settings, ["pemda-32-73"])
    topic, statuses = agency_topic_name("pemda-32-73"), agency_status_topic_name("pemda-32-73")
    await produce(settings, topic, [complaint("pemda-32-73", n) for n in (1, 2)])
    first = WorkerProcess("bridge", settings, tmp_path / "bridge-1.log")
    try:
        await until(lambda: len(server.requests) == 2, "two service requests")
        by_complaint = {r.form["description"].split("]")[0].removeprefix("[LAPOR! "): r.id
                        for r in server.requests.values()}
        one = by_complaint[make_complaint_id("web", "pemda-32-73-1")]
        server.update(one, "IN_PROGRESS", "Petugas dijadwalkan")
        seen = [json.loads(r.value) for r in await consume(settings, statuses, expected=1, quiet_s=0.5)]
        assert [(s["complaint_id"], s["status"], s["note"]) for s in seen] == [
            (make_complaint_id("web", "pemda-32-73-1"), "in_progress", "Petugas dijadwalkan")]
    finally:
        first.stop()
    assert first.proc.returncode == 0
    second = WorkerProcess("bridge", settings, tmp_path / "bridge-2.log")
    try:
        # A third complaint after the restart is the marker: once it is filed, the restarted
        # bridge has read its state; it filed the first two no second time.
        await produce(settings, topic, [complaint("pemda-32-73", 3)])
        await until(lambda: len(server.requests) == 3, "the third service request")
        assert len(server.forms) == 3
        server.update(one, "FIXED", "Sudah ditambal")
        seen = [json.loads(r.value) for r in await consume(settings, statuses, expected=2, quiet_s=1)]
        assert [(s["status"], s.get("note")) for s in seen] == [
            ("in_progress", "Petugas dijadwalkan"), ("resolved", "Sudah ditambal")]
    finally:
        second.stop()
        await server.stop()
    assert "open311_poll_failed" not in second.log_text() + first.log_text()


async def test_an_agency_gets_no_more_than_its_rate(broker_settings: Settings, tmp_path: Path) -> None:
    pln = await WebhookReceiver(whsec("pln")).start()
    path = config(tmp_path, {"pln": pln})
    data = json.loads(path.read_text())
    data["agencies"]["pln"].update(rate_per_s=4, burst=1)
    path.write_text(json.dumps(data))
    settings = isolated(broker_settings).model_copy(update={"bridge_file": path, "bridge_port": free_port()})
    await create_contract_topics(settings, ["pln"])
    await produce(settings, agency_topic_name("pln"), [complaint("pln", n) for n in range(1, 10)])
    worker = WorkerProcess("bridge", settings, tmp_path / "bridge.log")
    try:
        await until(lambda: len(pln.received) == 9, "nine deliveries")
    finally:
        worker.stop()
        await pln.stop()
    times = [t for t, _ in pln.calls]
    # 4 a second, one at a time: nine calls span 2 s, and any five of them in a row 1 s. The
    # receiver stamps a call when its own event loop gets to it, so one stamp may be late by
    # a scheduling delay under load (a gap of 0.39 s then one of 0.02 s, once): each bound
    # leaves a quarter second for that, and a bridge with no limit misses both by far.
    spans = [b - a for a, b in zip(times, times[4:])]
    assert times[-1] - times[0] >= 1.9 and min(spans) >= 0.75, (times, spans)
