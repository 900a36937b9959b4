"""Agencies that take HTTP: the whole pipeline on the broker with the bridge, against servers
the test runs as the agencies' side. PLN takes signed webhooks and posts its statuses back;
Kota Bandung (pemda-32-73) runs a GeoReport v2 server; Kemensos's endpoint is down and BPJS
Kesehatan's answers slowly, and neither holds up the others. A status that comes back stops
the SLA clock; a forged, stale, replayed or misaddressed one is refused and changes nothing;
an anonymous reporter's identity is in no request."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from schemas import AgencyStatus, Escalation, StatusEvent
from tests.ids import make_complaint_id
from services.runtime.memory import partition_for
from services.runtime.settings import Settings
from services.runtime.topics import ESCALATIONS, STATUS, SUBMITTED, agency_status_topic_name
from services.tools.broker import free_port
from tests.agency_peers import GeoReportServer, WebhookReceiver, post_status, repost, until, whsec
from tests.harness import harness

pytestmark = pytest.mark.broker

ANON = {"name": "Rahmat Hidayat", "phone": "+6281398765432", "email": "rahmat@contoh.id",
        "nik": "3273011203870005"}


def write_secret(path: Path, secret: str) -> Path:
    path.write_text(secret + "\n")
    path.chmod(0o600)
    return path


def bridge_file(tmp_path: Path, pln: str, kemensos: str, bpjs: str, georeport: str) -> Path:
    for name in ("pln", "kemensos", "bpjs"):
        write_secret(tmp_path / f"{name}.secret", whsec(name))
    write_secret(tmp_path / "bandung.key", "key-bandung")
    webhook = {"mode": "webhook", "rate_per_s": 20, "burst": 20, "timeout_s": 10}
    config = {"retry_base_s": 0.2, "retry_cap_s": 1.0, "agencies": {
        "pln": {**webhook, "endpoint": pln, "secret_file": "pln.secret"},
        "kemensos": {**webhook, "endpoint": kemensos, "secret_file": "kemensos.secret"},
        "bpjs-kesehatan": {**webhook, "endpoint": bpjs, "secret_file": "bpjs.secret"},
        "pemda-32-73": {"mode": "open311", "endpoint": georeport, "api_key_file": "bandung.key",
                        "poll_interval_s": 1, "default_address": "Balai Kota Bandung",
                        "service_codes": {"roads_infrastructure": "JALAN", "default": "UMUM"}},
    }}
    path = tmp_path / "bridge.yaml"
    path.write_text(json.dumps(config))
    return path


def submission(sid: str, body: str, now: datetime, **more: object) -> tuple[bytes, bytes]:
    data = {"submission_id": sid, "channel": "web", "submitted_at": now.isoformat(), "body": body, **more}
    return sid.encode(), json.dumps(data).encode()


async def test_agencies_systems_receive_complaints_and_send_statuses_back(
    request: pytest.FixtureRequest, broker_settings: Settings, tmp_path: Path,
) -> None:
    pln = await WebhookReceiver(whsec("pln")).start()
    kemensos = await WebhookReceiver(whsec("kemensos"), mode="down").start()
    bpjs = await WebhookReceiver(whsec("bpjs"), mode="slow", delay_s=4).start()
    bandung = await GeoReportServer("key-bandung").start()
    port = free_port()
    bridge = f"http://127.0.0.1:{port}"
    services = ["intake", "router", "sla_monitor", "status_gate", "bridge"]
    agencies = ("pln", "pemda-32-73", "kemensos", "bpjs-kesehatan")
    now = datetime.now(UTC).replace(microsecond=0)
    # A and C share a partition, as do B and D: C's and D's escalations are the markers that
    # prove the tick was handled where A's and B's would have been made.
    # (Ids are keyed by the deployment: C's and D's submission ids are found, not written down.)
    ids = {"a": "bridge-a-0", "b": "bridge-b-0"}
    for marker, beside in (("c", "a"), ("d", "b")):
        ids[marker] = next(f"bridge-{marker}-{n}" for n in range(100) if partition_for(
            make_complaint_id("web", f"bridge-{marker}-{n}").encode(), 2)
            == partition_for(make_complaint_id("web", ids[beside]).encode(), 2))
    cid = {k: make_complaint_id("web", sid) for k, sid in ids.items()}
    assert partition_for(cid["a"].encode(), 2) == partition_for(cid["c"].encode(), 2)
    assert partition_for(cid["b"].encode(), 2) == partition_for(cid["d"].encode(), 2)
    try:
        async with harness(request, "broker", services, tmp_path, agencies=agencies,
                           bridge_file=bridge_file(tmp_path, pln.url, kemensos.url, bpjs.url, bandung.url),
                           bridge_port=port) as h:
            await h.publish(SUBMITTED, [
                submission(ids["a"], "Token listrik PLN tidak masuk sejak kemarin", now,
                           reporter={"name": "Dewi", "email": "dewi@contoh.id"}),
                submission(ids["b"], "Jalan berlubang besar di dekat pasar, tolong hubungi 081398765432",
                           now, privacy="anonymous", reporter=ANON, location={"region_code": "32.73"}),
                submission(ids["c"], "Bansos PKH keluarga kami belum cair tiga bulan", now),
                submission(ids["d"], "Kartu BPJS Kesehatan JKN saya ditolak di puskesmas", now),
            ])
            # PLN and Bandung get theirs while Kemensos is down and BPJS is still answering.
            await until(lambda: pln.ids() != [] and bandung.requests != {}, "PLN and Bandung", timeout_s=90)
            assert [r["complaint_id"] for r in pln.received] == [cid["a"]]
            assert kemensos.received == [] and len(kemensos.calls) >= 1
            filed = next(iter(bandung.requests.values()))
            assert filed.form["description"].startswith(f"[LAPOR! {cid['b']}]")
            assert filed.form["address_string"] == "Balai Kota Bandung" and pln.bad_signatures == 0
            # The public reporter reaches PLN (the marker that identities are looked for);
            # the anonymous one is in no request to anyone.
            assert pln.received[0]["reporter"]["email"] == "dewi@contoh.id"
            sent = b"".join(pln.bodies + kemensos.bodies + bpjs.bodies) + json.dumps(bandung.forms).encode()
            for value in (*ANON.values(), "081398765432", "Rahmat"):
                assert value.encode() not in sent

            # PLN answers: a forged, a stale and a misaddressed status are refused; the
            # genuine one passes once (its replay is refused); `in_progress` is the marker.
            ack = {"event_id": "pln-ack-1", "complaint_id": cid["a"], "status": "acknowledged",
                   "at": now.isoformat()}
            refusals = [
                await post_status(bridge, "pln", ack, whsec("guessed")),
                await post_status(bridge, "pln", ack, whsec("pln"), timestamp=int(time.time()) - 3600),
                await post_status(bridge, "pln", {**ack, "agency_id": "kemensos"}, whsec("pln")),
                await post_status(bridge, "kemensos", {**ack, "complaint_id": cid["c"]}, whsec("pln")),
            ]
            assert [(code, body["error"]) for code, body, *_ in refusals] == [
                (401, "bad_signature"), (400, "stale_timestamp"), (400, "agency_mismatch"),
                (401, "bad_signature")]
            code, answer, raw, headers = await post_status(bridge, "pln", ack, whsec("pln"))
            assert (code, answer) == (202, {"accepted": "pln-ack-1"})
            replay = await repost(bridge, "pln", raw, headers)
            assert (replay[0], replay[1]) == (400, {"error": "replayed"})
            progress = {**ack, "event_id": "pln-progress-1", "status": "in_progress"}
            assert (await post_status(bridge, "pln", progress, whsec("pln")))[0] == 202
            written = [AgencyStatus.model_validate_json(v)
                       for _, v in await h.read(agency_status_topic_name("pln"), 2)]
            assert [(s.event_id, s.agency_id) for s in written] == [("pln-ack-1", "pln"), ("pln-progress-1", "pln")]

            # Bandung closes its request: the bridge's poll turns it into `resolved`.
            bandung.change(filed.id, "closed", "Lubang sudah ditambal")
            passed = [StatusEvent.model_validate_json(v) for _, v in await h.read(STATUS, 3)]
            assert sorted((s.complaint_id, s.agency_id, s.status.value) for s in passed) == sorted([
                (cid["a"], "pln", "acknowledged"), (cid["a"], "pln", "in_progress"),
                (cid["b"], "pemda-32-73", "resolved")])
            assert next(s.note for s in passed if s.complaint_id == cid["b"]) == "Lubang sudah ditambal"

            # Past every first-response deadline: Kemensos's and BPJS's clocks breach (the
            # markers); PLN's first response and Bandung's resolved complaint stopped theirs.
            await h.tick((now + timedelta(days=30)).isoformat())
            fired: list[Escalation] = []

            async def markers() -> bool:
                fired[:] = [Escalation.model_validate_json(v) for _, v in await h.read(ESCALATIONS, timeout_s=3)]
                breached = {e.complaint_id for e in fired if e.clock.value == "first_response" and e.level == 1}
                return {cid["c"], cid["d"]} <= breached
            deadline = time.monotonic() + 60
            while not await markers():
                assert time.monotonic() < deadline, "no first-response breach for Kemensos and BPJS"
            assert [e for e in fired if e.complaint_id == cid["b"]] == []
            assert [e for e in fired if e.complaint_id == cid["a"] and e.clock.value == "first_response"] == []

            # Kemensos is back: its complaint arrives; BPJS's slow answer arrived meanwhile.
            kemensos.mode = "up"
            await until(lambda: kemensos.ids() != [] and bpjs.ids() != [], "Kemensos and BPJS")
            assert [r["complaint_id"] for r in kemensos.received] == [cid["c"]]
            assert [r["complaint_id"] for r in bpjs.received] == [cid["d"]]
            # Kemensos's own genuine status is the marker on its topic: the call signed with
            # PLN's secret in Kemensos's name, refused above, left nothing before it.
            genuine = {**ack, "event_id": "kemensos-ack-1", "complaint_id": cid["c"]}
            assert (await post_status(bridge, "kemensos", genuine, whsec("kemensos")))[0] == 202
            on_kemensos = [AgencyStatus.model_validate_json(v)
                           for _, v in await h.read(agency_status_topic_name("kemensos"), 1)]
            assert [s.event_id for s in on_kemensos] == ["kemensos-ack-1"]
            assert "delivery_retry" in h.log_text()
    finally:
        for peer in (pln, kemensos, bpjs, bandung):
            await peer.stop()
