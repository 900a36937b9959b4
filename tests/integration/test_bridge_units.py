"""A unit's own endpoint on the real broker (#34): the bridge worker, fed straight on PLN's
topic, sends the complaint to PLN's server and each disposition's copy (the complaint again,
with `disposition`) where it belongs: to UID Jawa Barat's own server only, signed with UID
Jawa Barat's secret (verified there with the PyPI `standardwebhooks` library); a copy to a
unit with no endpoint of its own to PLN's server; a copy that a unit's endpoint refuses (400)
is dead-lettered and marked for the desk with the unit's id. `lapor bridge check pln` pings
the units' endpoints too, each signed with its own secret."""

from __future__ import annotations

import json
from pathlib import Path

from aiohttp import web

from schemas import AgencyComplaint, BridgeUndelivered, RejectedEvent
from services.runtime.settings import Settings
from services.runtime.topic_read import read_to_end
from services.runtime.topics import BRIDGE_UNDELIVERED, REJECTED, agency_topic_name
from services.tools.broker import free_port
from tests.agency_peers import WebhookReceiver, until, whsec
from tests.examples import T, VALID
from tests.ids import make_complaint_id
from tests.integration.test_bridge_delivery import lapor, secret
from tests.kafka_helpers import create_contract_topics, isolated, produce
from tests.web_sites import served
from tests.workers import WorkerProcess, as_service

CID = make_complaint_id("web", "pln-units-1")


def record(event_id: str, unit_id: str | None = None, copy: bool = True) -> tuple[bytes, bytes]:
    """The complaint as routed to PLN, or a disposition's copy of it (to `unit_id`)."""
    body = {**VALID[AgencyComplaint], "event_id": event_id, "complaint_id": CID, "agency_id": "pln"}
    if copy:
        body["disposition"] = {"status_event_id": f"s-{event_id}", "unit_id": unit_id,
                               "unit_name": "Unit" if unit_id else None, "disposed_at": T}
    return CID.encode(), json.dumps(body).encode()


def refusing_app(calls: list[str]) -> web.Application:
    """UID Jawa Timur's system: it refuses every call (400), a ping as well."""
    async def refuse(request: web.Request) -> web.Response:
        calls.append(request.headers.get("webhook-id", ""))
        return web.Response(status=400, text="unit code unknown")

    app = web.Application()
    app.router.add_post("/lapor", refuse)
    return app


async def test_a_units_copy_reaches_its_own_endpoint_only_signed_with_its_own_secret(
    broker_settings: Settings, tmp_path: Path,
) -> None:
    pln = await WebhookReceiver(whsec("pln")).start()
    jabar = await WebhookReceiver(whsec("uid-jabar")).start()  # verifies with UID Jabar's secret
    jatim_calls: list[str] = []
    try:
        async with served(refusing_app(jatim_calls)) as jatim:
            path = tmp_path / "bridge.yaml"
            unit = {"rate_per_s": 50, "burst": 50}
            path.write_text(json.dumps({"retry_base_s": 0.2, "retry_cap_s": 1.0, "agencies": {"pln": {
                "mode": "webhook", "endpoint": pln.url, "secret_file": secret(tmp_path, "pln"),
                "rate_per_s": 50, "burst": 50, "units": {
                    "uid-jabar": {"endpoint": jabar.url, "secret_file": secret(tmp_path, "uid-jabar"), **unit},
                    "uid-jatim": {"endpoint": str(jatim.make_url("/lapor")),
                                  "secret_file": secret(tmp_path, "uid-jatim"), **unit}}}}}))
            settings = isolated(broker_settings).model_copy(update={"bridge_file": path,
                                                                    "bridge_port": free_port()})
            await create_contract_topics(settings, ["pln"])
            # In one partition, in this order: the lane delivers them so.
            await produce(settings, agency_topic_name("pln"), [
                record("ag-1", copy=False), record("ag-disp-jabar", "uid-jabar"),
                record("ag-disp-jatim", "uid-jatim"), record("ag-disp-sumut", "uid-sumut")],
                partition=0)
            worker = WorkerProcess("bridge", settings, tmp_path / "bridge.log")
            try:
                # The last record at PLN's server: every earlier one is done (the lane's order).
                await until(lambda: "ag-disp-sumut" in pln.ids(), "the copy to a unit without an endpoint")
                assert pln.ids() == ["ag-1", "ag-disp-sumut"]  # never UID Jabar's copy
                assert jabar.ids() == ["ag-disp-jabar"]
                assert jabar.received[0]["disposition"]["unit_id"] == "uid-jabar"
                assert pln.bad_signatures == jabar.bad_signatures == 0
                assert jatim_calls == ["ag-disp-jatim"]  # refused for good: tried once

                marks = [BridgeUndelivered.model_validate_json(r.value)
                         for r in await read_to_end(settings, BRIDGE_UNDELIVERED) if r.value]
                assert [(m.agency_id, m.complaint_id, m.event_id, m.reason, m.http_status, m.unit_id)
                        for m in marks] == [("pln", CID, "ag-disp-jatim", "bridge_refused", 400, "uid-jatim")]
                letters = [RejectedEvent.model_validate_json(r.value)
                           for r in await read_to_end(settings, REJECTED) if r.value]
                assert [(d.reason, json.loads(d.raw)["event_id"]) for d in letters] == [
                    ("bridge_refused", "ag-disp-jatim")]

                # The operator's check pings each endpoint with its own secret.
                check = await lapor(as_service(settings, "bridge"), "bridge", "check", "pln")
                assert check.returncode == 1, check.stderr
                lines = check.stdout.splitlines()
                assert [line.split(":")[0] for line in lines] == ["pln", "pln/uid-jabar", "pln/uid-jatim"]
                assert "took a signed ping" in lines[0] and "took a signed ping" in lines[1]
                assert "answered 400" in lines[2]
                assert (pln.pings, jabar.pings, len(jatim_calls)) == (1, 1, 2)
                assert pln.bad_signatures == jabar.bad_signatures == 0
            finally:
                worker.stop()
            assert worker.proc.returncode == 0
            log = worker.log_text()
            assert "Traceback" not in log
            assert VALID[AgencyComplaint]["body"] not in log  # ids in the log, never the text
    finally:
        await pln.stop()
        await jabar.stop()
