"""A unit's own endpoint in the bridge (#34): the bridge file's `units:` entry, checked whole
at start like an agency's, and where each record of an agency's topic goes (a disposition's
copy to the unit's endpoint when there is one, else the agency's webhook, else nowhere for an
Open311 agency). Then the delivery itself against receivers on loopback (no broker): the
unit's endpoint gets the copy signed with its own keys, a refusal's mark names the unit, the
logs carry ids only, and a redelivery does not end a mark that a record of the complaint
still keeps."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from schemas import AgencyComplaint, UnitDisposition
from schemas.bridge import BridgeUndelivered
from services.bridge.config import BridgeConfig, BridgeConfigError, Open311Agency, parse_config
from services.bridge.cli import standing_marks
from services.bridge.delivery import NotSent, destination
from services.bridge.http import client_session
from services.bridge.metrics import BridgeMetrics
from services.bridge.outbound import Outbound
from services.bridge.signing import webhook_key
from services.runtime.lane_runtime import Outgoing
from services.runtime.stage import Record
from services.runtime.topic_read import TopicRecord
from services.runtime.topics import BRIDGE_UNDELIVERED, REJECTED, agency_topic_name
from tests.agency_peers import WebhookReceiver, whsec
from tests.examples import CID, T, VALID

AGENCIES = {"pln", "pemda-32-73"}


def secret(tmp_path: Path, name: str, text: str | None = None, mode: int = 0o600) -> str:
    path = tmp_path / f"{name}.secret"
    path.write_text((whsec(name) if text is None else text) + "\n")
    path.chmod(mode)
    return path.name


def file_text(tmp_path: Path, pln: str = "https://crm.pln.example/in",
              jabar: dict[str, Any] | None = None, pupr: str = "https://sipupr.bandung.example/lapor",
              more: dict[str, Any] | None = None) -> str:
    """PLN (webhook) with UID Jawa Barat's own endpoint; Kota Bandung (Open311) with Dinas
    PUPR's. `jabar` changes UID Jawa Barat's entry; `more` adds units to PLN."""
    units = {"uid-jabar": {"endpoint": "https://crm.uid-jabar.example/in",
                           "secret_file": secret(tmp_path, "uid-jabar"), "rate_per_s": 2,
                           "timeout_s": 5, "give_up_after_s": 600, **(jabar or {})}, **(more or {})}
    return json.dumps({"agencies": {
        "pln": {"mode": "webhook", "endpoint": pln, "secret_file": secret(tmp_path, "pln"),
                "units": units},
        "pemda-32-73": {"mode": "open311", "endpoint": "https://open311.bandung.example/georeport/v2/",
                        "api_key_file": secret(tmp_path, "pemda", "key-pemda"),
                        "service_codes": {"default": "UMUM"},
                        "units": {"dinas-pupr": {"endpoint": pupr,
                                                 "secret_file": secret(tmp_path, "dinas-pupr")}}},
    }})


def parsed(tmp_path: Path, **change: Any) -> BridgeConfig:
    return parse_config(file_text(tmp_path, **change), "bridge.yaml", AGENCIES, tmp_path)


def key_of(name: str) -> bytes:
    return webhook_key(whsec(name))


# --- the bridge file ------------------------------------------------------------------------

def test_units_are_read_with_their_own_settings_keys_and_secret(tmp_path: Path) -> None:
    config = parsed(tmp_path)
    jabar = config.unit_target("pln", "uid-jabar")
    assert jabar is not None and (jabar.agency_id, jabar.unit_id, jabar.name) == ("pln", "uid-jabar", "pln/uid-jabar")
    assert jabar.keys == (key_of("uid-jabar"),) and jabar.secret == whsec("uid-jabar").encode()
    s = jabar.settings
    assert (s.endpoint, s.rate_per_s, s.burst, s.timeout_s, s.give_up_after_s) == (
        "https://crm.uid-jabar.example/in", 2, 5, 5, 600)
    pupr = config.unit_target("pemda-32-73", "dinas-pupr")
    assert pupr is not None and pupr.keys == (key_of("dinas-pupr"),)
    assert config.unit_target("pln", "uid-jatim") is None and config.unit_target("pln", None) is None
    assert config.unit_target("pemda-32-73", "uid-jabar") is None  # PLN's unit, not Bandung's
    assert [t.name for t in config.unit_targets("pln")] == ["pln/uid-jabar"]
    # The agency's own stay as they were: its keys are not its units'.
    assert config.keys == {"pln": (key_of("pln"),)}
    own = config.webhook_target("pln")
    assert (own.unit_id, own.name, own.keys) == (None, "pln", (key_of("pln"),))
    with pytest.raises(BridgeConfigError, match="served by Open311"):
        config.webhook_target("pemda-32-73")
    assert "whsec_" not in repr(jabar) and "test-key" not in repr(jabar)  # no secret in a repr


def test_a_unit_may_rotate_its_secret_and_may_reach_this_machine_over_http(tmp_path: Path) -> None:
    config = parsed(tmp_path, jabar={
        "endpoint": "http://127.0.0.1:9/in",
        "secret_file": secret(tmp_path, "jabar2", whsec("new") + "\n" + whsec("old"))})
    jabar = config.unit_target("pln", "uid-jabar")
    assert jabar is not None and jabar.keys == (key_of("new"), key_of("old"))


@pytest.mark.parametrize(("change", "message"), [
    ({"Uid_Jabar": {"endpoint": "https://x.example/", "secret_file": "pln.secret"}},
     "agencies.pln.webhook.units.Uid_Jabar.[key]: String should match pattern"),
    ({"jabar": {"endpoint": "http://crm.uid-jabar.example/in"}},
     "agencies.pln.webhook.units.uid-jabar.endpoint: Value error, must be https"),
    ({"jabar": {"mode": "webhook"}},
     "agencies.pln.webhook.units.uid-jabar.mode: Extra inputs are not permitted"),
    ({"jabar": {"timeout_s": 26}},
     "agencies.pln.webhook.units.uid-jabar.timeout_s: Input should be less than or equal to 25"),
    ({"jabar": {"secret_file": "loose.secret"}},
     "agencies.pln.units.uid-jabar: secret file {tmp}/loose.secret is readable by others (chmod 600)"),
    ({"jabar": {"secret_file": "missing.secret"}},
     "agencies.pln.units.uid-jabar: cannot read secret file {tmp}/missing.secret"),
    ({"jabar": {"secret_file": "plain.secret"}},
     "agencies.pln.units.uid-jabar: secret file {tmp}/plain.secret: line 1 is not a whsec_ secret"),
    ({"jabar": {"secret_file": "three.secret"}},
     "agencies.pln.units.uid-jabar: secret file {tmp}/three.secret holds 3 secrets"),
    ({"jabar": {"secret_file": "short.secret"}},
     "agencies.pln.units.uid-jabar: secret file {tmp}/short.secret: a whsec_ secret's key must be at least 24 bytes"),
    # A unit holding its agency's secret (or another unit's) could post statuses as the agency.
    ({"jabar": {"secret_file": "pln.secret"}},
     "agencies.pln.units.uid-jabar: its secret is also agencies.pln's"),
    ({"uid-jatim": {"endpoint": "https://x.example/", "secret_file": "uid-jabar.secret"}},
     "agencies.pln.units.uid-jatim: its secret is also agencies.pln.units.uid-jabar's"),
])
def test_every_mistake_in_a_unit_is_named_with_its_path(tmp_path: Path, change: dict[str, Any],
                                                       message: str) -> None:
    secret(tmp_path, "loose", mode=0o644)
    secret(tmp_path, "plain", "a-secret-without-its-prefix-long-enough")
    secret(tmp_path, "three", "\n".join(whsec(n) for n in "abc"))
    secret(tmp_path, "short", "whsec_c2hvcnQ=")
    text = file_text(tmp_path, jabar=change.get("jabar"),
                     more={k: v for k, v in change.items() if k != "jabar"})
    with pytest.raises(BridgeConfigError) as caught:
        parse_config(text, "bridge.yaml", AGENCIES, tmp_path)
    assert message.format(tmp=tmp_path) in str(caught.value)
    assert str(caught.value).startswith("bridge.yaml: ")
    assert "test-key" not in str(caught.value) and "whsec_" not in str(caught.value).replace(
        "a whsec_ secret", "")  # a message names the file, never its secret


def test_every_unit_problem_of_the_file_is_named_at_once(tmp_path: Path) -> None:
    secret(tmp_path, "loose", mode=0o644)
    text = file_text(tmp_path, jabar={"secret_file": "loose.secret"},
                     more={"uid-jatim": {"endpoint": "https://x.example/", "secret_file": "gone.secret"}})
    with pytest.raises(BridgeConfigError) as caught:
        parse_config(text, "bridge.yaml", AGENCIES, tmp_path)
    assert "agencies.pln.units.uid-jabar: secret file" in str(caught.value)
    assert "agencies.pln.units.uid-jatim: cannot read secret file" in str(caught.value)


# --- where a record goes --------------------------------------------------------------------

def complaint(agency: str = "pln", unit: str | None = "uid-jabar", copy: bool = True,
              event_id: str = "ag-disp-1") -> AgencyComplaint:
    disposition = UnitDisposition(status_event_id="s-disp-1", unit_id=unit, disposed_at=T) if copy else None
    return AgencyComplaint.model_validate({**VALID[AgencyComplaint], "agency_id": agency,
                                           "event_id": event_id, "disposition": disposition})


def test_a_dispositions_copy_goes_to_its_units_endpoint_else_the_agencys_webhook_else_nowhere(
    tmp_path: Path,
) -> None:
    config = parsed(tmp_path)
    where = destination(config, "pln", complaint(unit="uid-jabar"))
    assert not isinstance(where, (NotSent, Open311Agency)) and where.name == "pln/uid-jabar"
    assert where.keys == (key_of("uid-jabar"),)
    # A unit without an endpoint, and the copy handed back to the admin: PLN's own webhook.
    for unit in ("uid-jatim", None):
        where = destination(config, "pln", complaint(unit=unit))
        assert not isinstance(where, (NotSent, Open311Agency)) and where.name == "pln"
        assert where.keys == (key_of("pln"),)
    # The complaint as routed: PLN's own webhook, whatever units it has.
    where = destination(config, "pln", complaint(copy=False))
    assert not isinstance(where, (NotSent, Open311Agency)) and where.name == "pln"
    # Kota Bandung (Open311): Dinas PUPR's own endpoint; any other copy goes nowhere (a
    # GeoReport server has no disposition); the complaint as routed, to the server.
    where = destination(config, "pemda-32-73", complaint("pemda-32-73", unit="dinas-pupr"))
    assert not isinstance(where, (NotSent, Open311Agency)) and where.name == "pemda-32-73/dinas-pupr"
    for unit in ("dinas-kesehatan", None):
        assert destination(config, "pemda-32-73", complaint("pemda-32-73", unit=unit)) is NotSent.open311_disposition
    assert destination(config, "pemda-32-73", complaint("pemda-32-73", copy=False)) is config.agency("pemda-32-73")


# --- the delivery, against receivers on this machine ---------------------------------------

class Log:
    """The worker's structured log, kept: each line's event and fields."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, dict[str, Any]]] = []

    def _keep(self, event: str, **fields: Any) -> None:
        self.lines.append((event, fields))

    info = warning = error = _keep

    def events(self, name: str) -> list[dict[str, Any]]:
        return [fields for event, fields in self.lines if event == name]


def record(c: AgencyComplaint, offset: int = 7) -> Record:
    return Record(agency_topic_name(c.agency_id), 0, offset, time.time(), c.complaint_id.encode(),
                  c.to_bytes())


def marks(outputs: list[Outgoing]) -> list[BridgeUndelivered]:
    return [BridgeUndelivered.model_validate_json(o.value) for o in outputs
            if o.topic == BRIDGE_UNDELIVERED and o.value is not None]


async def test_the_copy_reaches_the_unit_signed_with_its_keys_and_a_refusal_names_the_unit(
    tmp_path: Path,
) -> None:
    pln = await WebhookReceiver(whsec("pln")).start()
    jabar = await WebhookReceiver(whsec("uid-jabar")).start()  # verifies with the unit's own secret
    try:
        config = parse_config(file_text(tmp_path, pln=pln.url, jabar={"endpoint": jabar.url}),
                              "bridge.yaml", AGENCIES, tmp_path)
        log = Log()
        async with client_session() as session:
            outbound = Outbound(config, session, BridgeMetrics(config.agencies), {}, log)
            assert await outbound.deliver("pln", record(complaint(copy=False, event_id="ag-1"))) == []
            assert await outbound.deliver("pln", record(complaint(unit="uid-jabar"))) == []
            assert await outbound.deliver("pln", record(complaint(unit=None, event_id="ag-disp-2"))) == []
            assert (pln.ids(), jabar.ids()) == (["ag-1", "ag-disp-2"], ["ag-disp-1"])
            assert pln.bad_signatures == jabar.bad_signatures == 0
            assert jabar.received[0]["disposition"]["unit_id"] == "uid-jabar"
            assert outbound.buckets.keys() == {"pln", "pln/uid-jabar"}  # the unit's own rate

            jabar.refuse = {"ag-disp-3"}
            outputs = await outbound.deliver("pln", record(complaint(unit="uid-jabar", event_id="ag-disp-3")))
            assert [(m.reason, m.http_status, m.unit_id, m.event_id) for m in marks(outputs)] == [
                ("bridge_refused", 422, "uid-jabar", "ag-disp-3")]
            assert [o.topic for o in outputs if o.topic == REJECTED] == [REJECTED]
            pln.refuse = {"ag-disp-4"}  # a copy to PLN's own endpoint: the mark names no unit
            outputs = await outbound.deliver("pln", record(complaint(unit="uid-jatim", event_id="ag-disp-4")))
            assert [(m.reason, m.unit_id) for m in marks(outputs)] == [("bridge_refused", None)]
    finally:
        await pln.stop()
        await jabar.stop()
    # Every delivery's line names the agency, the complaint and (a copy's) unit; never text.
    done = log.events("delivery_delivered") + log.events("delivery_refused")
    assert [(f["agency_id"], f["complaint_id"], f.get("unit_id", "-")) for f in done] == [
        ("pln", CID, "-"), ("pln", CID, "uid-jabar"), ("pln", CID, None),
        ("pln", CID, "uid-jabar"), ("pln", CID, "uid-jatim")]
    body = VALID[AgencyComplaint]["body"]
    assert not any(body in json.dumps(fields, default=str) for _, fields in log.lines)


async def test_an_open311_agencys_copy_without_a_unit_endpoint_is_sent_nowhere_and_counted(
    tmp_path: Path,
) -> None:
    config = parsed(tmp_path)  # no server answers at Bandung's address: nothing may be called
    log, metrics = Log(), BridgeMetrics(config.agencies)
    async with client_session() as session:
        outbound = Outbound(config, session, metrics, {}, log)
        assert await outbound.deliver("pemda-32-73", record(complaint("pemda-32-73", unit="dinas-kesehatan"))) == []
    assert metrics.total("not_sent", "pemda-32-73") == 1
    assert metrics.total("delivered", "pemda-32-73") == metrics.total("refused", "pemda-32-73") == 0
    assert [(f["agency_id"], f["complaint_id"], f["unit_id"], f["reason"]) for f in log.events("delivery_not_sent")] == [
        ("pemda-32-73", CID, "dinas-kesehatan", "open311_disposition")]


async def test_a_redelivery_ends_no_mark_a_record_of_the_complaint_still_keeps(tmp_path: Path) -> None:
    """PLN's own endpoint refuses the complaint; UID Jawa Barat's takes its copy. A redelivery
    of both must leave the mark: PLN's system still lacks the complaint."""
    pln = await WebhookReceiver(whsec("pln")).start()
    jabar = await WebhookReceiver(whsec("uid-jabar")).start()
    pln.refuse = {"ag-1"}
    try:
        config = parse_config(file_text(tmp_path, pln=pln.url, jabar={"endpoint": jabar.url}),
                              "bridge.yaml", AGENCIES, tmp_path)
        async with client_session() as session:
            def redelivery() -> Outbound:
                return Outbound(config, session, BridgeMetrics(config.agencies), {}, Log(),
                                max_tries=3, gives_up=False, clears_undelivered=True)

            again = redelivery()
            first = await again.deliver("pln", record(complaint(copy=False, event_id="ag-1")))
            assert [(m.reason, m.unit_id) for m in marks(first)] == [("bridge_refused", None)]
            assert await again.deliver("pln", record(complaint(unit="uid-jabar"), offset=8)) == []
            assert jabar.ids() == ["ag-disp-1"]
            # Once PLN takes it, a redelivery ends the mark as before.
            pln.refuse = set()
            fixed = redelivery()
            assert await fixed.deliver("pln", record(complaint(copy=False, event_id="ag-1"))) == []
            on_pln = {f"pln|{CID}": "ag-1"}  # the mark as it stands: PLN's refusal of ag-1
            assert fixed.ended_marks(on_pln) == [Outgoing(BRIDGE_UNDELIVERED, f"pln|{CID}".encode(), None)]
            assert fixed.ended_marks({}) == []  # no mark stands: nothing to end
            # Taken first, then a later copy refused by its unit: the mark stays (it is the
            # copy's now), whatever the order of the records.
            jabar.refuse = {"ag-disp-1"}
            then_refused = redelivery()
            assert await then_refused.deliver("pln", record(complaint(copy=False, event_id="ag-1"))) == []
            refused = await then_refused.deliver("pln", record(complaint(unit="uid-jabar"), offset=8))
            assert [(m.reason, m.unit_id) for m in marks(refused)] == [("bridge_refused", "uid-jabar")]
            assert then_refused.ended_marks(on_pln) == []
            # A redelivery of the unit's copy alone, taken: PLN's own system still lacks the
            # complaint, and its mark stays.
            jabar.refuse = set()
            copy_only = redelivery()
            assert await copy_only.deliver("pln", record(complaint(unit="uid-jabar"), offset=8)) == []
            assert copy_only.ended_marks(on_pln) == []
            assert copy_only.ended_marks({f"pln|{CID}": "ag-disp-1"}) == [
                Outgoing(BRIDGE_UNDELIVERED, f"pln|{CID}".encode(), None)]  # the copy's own mark ends
    finally:
        await pln.stop()
        await jabar.stop()


async def test_a_unit_endpoint_that_stays_down_is_given_up_after_the_units_own_time(tmp_path: Path) -> None:
    """UID Jawa Barat's give_up_after_s is 10 minutes (PLN's, a day): a copy its endpoint
    never takes is marked given up, with the unit, after 10 minutes of its agency's lane."""
    pln = await WebhookReceiver(whsec("pln")).start()
    jabar = await WebhookReceiver(whsec("uid-jabar"), mode="down").start()
    copy = record(complaint(unit="uid-jabar"))
    clock = [copy.timestamp]  # when it reached PLN's topic

    async def ten_minutes_pass(_: float) -> None:
        clock[0] += 600

    try:
        config = parse_config(file_text(tmp_path, pln=pln.url, jabar={"endpoint": jabar.url}),
                              "bridge.yaml", AGENCIES, tmp_path)
        async with client_session() as session:
            outbound = Outbound(config, session, BridgeMetrics(config.agencies), {}, Log(),
                                sleep=ten_minutes_pass, clock=lambda: clock[0])
            outputs = await outbound.deliver("pln", copy)
    finally:
        await pln.stop()
        await jabar.stop()
    assert [(m.reason, m.http_status, m.unit_id) for m in marks(outputs)] == [("bridge_gave_up", 503, "uid-jabar")]
    assert len(jabar.calls) == 2 and pln.calls == []  # a try, 10 minutes, a try: given up


async def test_a_units_endpoint_gone_is_a_refusal_that_holds_nothing_of_its_agency(tmp_path: Path) -> None:
    """410 from UID Jawa Barat's endpoint: its copy is marked for PLN's desk (refused, 410,
    the unit named) and PLN's lane goes on, no endpoint disabled; PLN's own 410 still holds."""
    pln = await WebhookReceiver(whsec("pln")).start()
    jabar = await WebhookReceiver(whsec("uid-jabar"), mode="gone").start()
    try:
        config = parse_config(file_text(tmp_path, pln=pln.url, jabar={"endpoint": jabar.url}),
                              "bridge.yaml", AGENCIES, tmp_path)
        metrics = BridgeMetrics(config.agencies)
        async with client_session() as session:
            outbound = Outbound(config, session, metrics, {}, Log())
            outputs = await asyncio.wait_for(outbound.deliver("pln", record(complaint(unit="uid-jabar"))), 30)
            assert [(m.reason, m.http_status, m.unit_id) for m in marks(outputs)] == [
                ("bridge_refused", 410, "uid-jabar")]
            assert await outbound.deliver("pln", record(complaint(copy=False, event_id="ag-1"))) == []
            assert pln.ids() == ["ag-1"] and len(jabar.calls) == 1
            assert metrics.total("disabled", "pln") == 0 and outbound.health.failing == {}
    finally:
        await pln.stop()
        await jabar.stop()


def test_the_marks_standing_are_each_keys_latest_and_a_tombstone_ends_one() -> None:
    def mark_record(key: str, event_id: str | None, offset: int) -> TopicRecord:
        value = None if event_id is None else BridgeUndelivered(
            agency_id="pln", complaint_id=CID, event_id=event_id, reason="bridge_refused",
            at=datetime.fromisoformat(T), http_status=422).to_bytes()
        return TopicRecord(BRIDGE_UNDELIVERED, 0, offset, 0, key.encode(), value)

    records = [mark_record(f"pln|{CID}", "ag-1", 0), mark_record("pln|LPR-OTHER", "x-1", 1),
               mark_record(f"pln|{CID}", "ag-disp-1", 2), mark_record("pln|LPR-OTHER", None, 3),
               TopicRecord(BRIDGE_UNDELIVERED, 0, 4, 0, b"pln|LPR-BAD", b"not a mark")]
    assert standing_marks(records) == {f"pln|{CID}": "ag-disp-1"}
