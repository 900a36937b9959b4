"""A retired unit's open complaints go back to the agency's admin (#34): which complaints the
desk returns, with which status (services/desk/retired.py)."""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from schemas import AgencyStatus, Status, StatusEvent, UnitSet
from services.desk import app as desk_app
from services.desk.app import DeskWorker
from services.desk.retired import retired_returns, retires
from services.desk.view import DeskView, apply_record
from services.runtime.settings import Settings
from services.runtime.topic_read import TopicRecord
from services.runtime.topics import STATUS, UNITS, agency_topic_name
from tests.unit.test_desk import A, B, C, MON, delivered
from tests.unit.test_desk_units import BDG, DINKES, PUPR, PUPR_NAME, bandung, disposed, unit_of

NOTE = f"Unit {PUPR_NAME} tidak aktif lagi: aduan kembali ke admin instansi"


def retiring(v: DeskView, *unit_ids: str, version: int = 1, published_at: datetime = MON) -> UnitSet:
    """The agency's units in force with `unit_ids` retired (and their rules gone), applied."""
    in_force = v.units.of(BDG).unit_set
    unit_set = UnitSet.model_validate({
        **in_force.model_dump(mode="json"), "version": version, "published_at": published_at.isoformat(),
        "units": [{**u.model_dump(mode="json"), "retired": u.retired or u.unit_id in unit_ids}
                  for u in in_force.units],
        "rules": [r.model_dump(mode="json") for r in in_force.rules if r.unit_id not in unit_ids]})
    assert apply_record(v, UNITS, unit_set.to_bytes(), BDG.encode()) is None
    return unit_set


def test_each_open_complaint_of_a_retired_unit_gets_one_return_to_the_admin() -> None:
    v = bandung()
    v.status(disposed(A, PUPR, MON + timedelta(hours=1), unit_name=PUPR_NAME))
    v.status(disposed(B, PUPR, MON + timedelta(hours=2)))  # no unit_name: the units' name
    v.status(disposed(C, DINKES, MON + timedelta(hours=1)))
    assert retired_returns(v) == []  # nothing retired: nothing to return
    retiring(v, PUPR, published_at=MON + timedelta(hours=1, minutes=30))
    returns = retired_returns(v)
    assert [(s.complaint_id, s.agency_id, s.status, s.unit_id, s.note) for s in returns] == [
        (cid, BDG, Status.disposed, None, NOTE) for cid in sorted((A, B))]
    # Event time: the later of the version's publication and the disposition it undoes.
    assert [s.at for s in returns] == sorted([MON + timedelta(hours=1, minutes=30), MON + timedelta(hours=2)])
    assert len({s.event_id for s in returns}) == 2
    assert retired_returns(v) == returns  # the same statuses, ids and all, every time


def test_every_worker_writes_the_same_event_whatever_version_it_has_read() -> None:
    def worker(versions: int) -> list[str]:
        v = bandung()
        v.status(disposed(A, PUPR, MON + timedelta(hours=1), unit_name=PUPR_NAME))
        for n in range(1, versions + 1):
            retiring(v, PUPR, version=n, published_at=MON + timedelta(hours=n))
        return [s.event_id for s in retired_returns(v)]

    assert worker(1) == worker(3) != []


def test_a_closed_moved_handed_back_or_re_routed_complaint_is_not_returned() -> None:
    v = bandung()
    for cid in (A, B, C):
        v.status(disposed(cid, PUPR, MON + timedelta(hours=1)))
    v.status(disposed(A, DINKES, MON + timedelta(hours=2)))  # moved to an active unit
    v.status(disposed(B, None, MON + timedelta(hours=2), note="bukan wewenang unit"))  # handed back
    v.status(StatusEvent.model_validate({"event_id": "resolved-C", "complaint_id": C, "status": "resolved",
                                         "agency_id": BDG, "at": (MON + timedelta(hours=2)).isoformat()}))
    retiring(v, PUPR)
    assert retired_returns(v) == []
    # Re-routed to another agency: Bandung's units have no part in it any more.
    w = bandung()
    w.status(disposed(A, PUPR, MON + timedelta(hours=1)))
    w.delivered(delivered(A, "pln", attempt=2, routed_at=MON + timedelta(hours=3)))
    retiring(w, PUPR)
    assert retired_returns(w) == []


def test_a_copy_agency_has_no_units_part() -> None:
    v = bandung()
    v.delivered(delivered(A, "pln", role="copy"))  # PLN's copy: never PLN's to return
    v.status(disposed(A, PUPR, MON + timedelta(hours=1)))
    retiring(v, PUPR)
    assert [s.agency_id for s in retired_returns(v)] == [BDG]


def test_once_the_judged_return_is_read_there_is_nothing_left_to_return() -> None:
    v = bandung()
    v.status(disposed(A, PUPR, MON + timedelta(hours=1), unit_name=PUPR_NAME))
    retiring(v, PUPR)
    [back] = retired_returns(v)
    v.status(back)  # read back from complaints.status.v1, judged
    assert retired_returns(v) == [] and unit_of(v, A) is None
    # Dispositioned again to an active unit, which is retired later: a new return of its own.
    v.status(disposed(A, DINKES, MON + timedelta(hours=3)))
    retiring(v, PUPR, DINKES, version=2, published_at=MON + timedelta(hours=4))
    [again] = retired_returns(v)
    assert again.event_id != back.event_id and again.note is not None and "Kesehatan" in again.note


def test_a_version_retires_only_when_it_retires_a_unit_active_before() -> None:
    v = bandung()
    before = v.units.of(BDG)
    retiring(v, PUPR)
    after = v.units.of(BDG)
    assert retires(before, after)
    renamed = UnitSet.model_validate({**after.unit_set.model_dump(mode="json"), "version": 2, "units": [
        {**u.model_dump(mode="json"), "name": u.name + " (baru)"} for u in after.unit_set.units]})
    apply_record(v, UNITS, renamed.to_bytes(), BDG.encode())
    assert not retires(after, v.units.of(BDG))  # PUPR retired already, nothing else retired


# --- the desk worker: when it writes them, and each once ----------------------------------

def worker(tmp_path: Path) -> DeskWorker:
    secret, key = tmp_path / "oidc-client.secret", tmp_path / "staff-session.key"
    secret.write_text("not-asked\n")
    key.write_text(base64.urlsafe_b64encode(os.urandom(32)).decode() + "\n")
    for path in (secret, key):
        path.chmod(0o600)
    w = DeskWorker(Settings(oidc_issuer="http://127.0.0.1:9/realms/lapor", oidc_client_secret_file=secret,
                            staff_session_key_file=key))
    for cid in (A, B, C):
        w.feed(record(agency_topic_name(BDG), delivered(cid, BDG).to_bytes(), cid))
    return w


def record(topic: str, value: bytes, key: str) -> TopicRecord:
    return TopicRecord(topic, 0, 0, 0, key.encode(), value)


def units_record(w: DeskWorker, *unit_ids: str, version: int = 1) -> TopicRecord:
    in_force = w.view.units.of(BDG).unit_set
    unit_set = UnitSet.model_validate({
        **in_force.model_dump(mode="json"), "version": version, "published_at": MON.isoformat(),
        "units": [{**u.model_dump(mode="json"), "retired": u.retired or u.unit_id in unit_ids}
                  for u in in_force.units],
        "rules": [r.model_dump(mode="json") for r in in_force.rules if r.unit_id not in unit_ids]})
    return record(UNITS, unit_set.to_bytes(), BDG)


async def rounds(w: DeskWorker, sent: list[AgencyStatus], until: Callable[[], bool]) -> None:
    """Run the worker's returns (a fake publish, no I/O) until `until()` holds and no round
    is due, after the loop has had its turns (a round takes a few; nothing here waits on a
    clock)."""
    stopping = asyncio.Event()

    async def publish(status: AgencyStatus) -> None:
        sent.append(status)

    task = asyncio.create_task(w.return_retired(publish, stopping))
    for turn in range(500):
        await asyncio.sleep(0)
        if turn >= 50 and until() and not w.returns_due.is_set():
            break
    stopping.set()
    await task
    assert until()


async def test_the_worker_returns_after_its_catch_up_in_bounded_rounds_each_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(desk_app, "RETURNS_BATCH", 1)
    w = worker(tmp_path)
    for cid in (A, B):
        w.feed(record(STATUS, disposed(cid, PUPR, MON + timedelta(hours=1)).to_bytes(), cid))
    w.feed(units_record(w, PUPR))  # read before the catch-up: nothing is written yet
    sent: list[AgencyStatus] = []
    await rounds(w, sent, lambda: True)  # not caught up: no round at all
    assert sent == []
    w.caught_up.set()
    await rounds(w, sent, lambda: len(sent) >= 2)  # two rounds of one
    assert sorted(s.complaint_id for s in sent) == sorted((A, B))
    # Not read back judged yet: a round due again (another version) sends nothing twice.
    w.feed(units_record(w, PUPR, DINKES, version=2))
    await rounds(w, sent, lambda: True)
    assert len(sent) == 2 and set(w.returning) == {s.event_id for s in sent}
    for s in sent:  # read back judged: no longer remembered, and nothing left to return
        w.feed(record(STATUS, s.to_bytes(), s.complaint_id))
    assert not w.returning and retired_returns(w.view) == []


async def test_a_disposition_judged_to_a_unit_already_retired_is_returned_when_read(tmp_path: Path) -> None:
    w = worker(tmp_path)
    w.feed(units_record(w, PUPR))
    w.caught_up.set()
    sent: list[AgencyStatus] = []
    await rounds(w, sent, lambda: True)
    assert sent == []
    # The router judged it before it knew of the retirement: the desk returns it on reading it.
    w.feed(record(STATUS, disposed(C, PUPR, MON + timedelta(hours=2)).to_bytes(), C))
    assert w.returns_due.is_set()
    await rounds(w, sent, lambda: len(sent) == 1)
    assert [(s.complaint_id, s.unit_id) for s in sent] == [(C, None)]


async def test_a_units_version_read_while_running_that_retires_a_unit_starts_a_round(tmp_path: Path) -> None:
    w = worker(tmp_path)
    w.feed(record(STATUS, disposed(C, DINKES, MON + timedelta(hours=1)).to_bytes(), C))
    w.caught_up.set()
    sent: list[AgencyStatus] = []
    await rounds(w, sent, lambda: True)
    assert sent == [] and not w.returns_due.is_set()
    w.feed(units_record(w, DINKES))
    assert w.returns_due.is_set()
    await rounds(w, sent, lambda: len(sent) == 1)
    assert [s.complaint_id for s in sent] == [C]


async def test_at_start_a_unit_added_and_retired_since_is_returned_too(tmp_path: Path) -> None:
    """Compaction leaves the latest version only: a unit added in one version and retired in
    the next is, to a desk starting now, retired from the start (no version retires it)."""
    w = worker(tmp_path)
    in_force = w.view.units.of(BDG).unit_set
    latest = UnitSet.model_validate({**in_force.model_dump(mode="json"), "version": 2, "units": [
        *in_force.model_dump(mode="json")["units"], {"unit_id": "upt-jalan", "name": "UPT Jalan", "retired": True}]})
    w.feed(record(STATUS, disposed(A, "upt-jalan", MON + timedelta(hours=1)).to_bytes(), A))
    w.feed(record(UNITS, latest.to_bytes(), BDG))
    assert not w.returns_due.is_set()  # nothing retired it, as far as this desk can tell
    w.caught_up.set()
    sent: list[AgencyStatus] = []
    await rounds(w, sent, lambda: len(sent) == 1)
    assert [s.complaint_id for s in sent] == [A]


async def test_a_round_sends_at_most_a_batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(desk_app, "RETURNS_BATCH", 1)
    w = worker(tmp_path)
    for cid in (A, B):
        w.feed(record(STATUS, disposed(cid, PUPR, MON + timedelta(hours=1)).to_bytes(), cid))
    w.feed(units_record(w, PUPR))
    w.caught_up.set()
    sent: list[AgencyStatus] = []
    stopping = asyncio.Event()

    async def publish(status: AgencyStatus) -> None:
        sent.append(status)
        stopping.set()  # stopped during the first round: what that round sends, and no more

    await w.return_retired(publish, stopping)
    assert len(sent) == 1 and w.returns_due.is_set()  # the rest is due in the next round
