"""A retired unit's open complaints go back to the agency's admin (#34), on the real broker,
through the whole status path (desk, status gate, judge): Kota Bandung's road complaint is
dispositioned to Dinas PUPR and its clinic complaint to Dinas Kesehatan; Bandung retires PUPR
(`lapor units publish`) before any desk runs, and a desk that starts finds the road already
in that state; it then retires Dinas Kesehatan while the desk runs. Each complaint gets one
judged `disposed` without a unit, with the desk's note, written once.

No one signs in here: the desk is given a provider it never has to reach."""

from __future__ import annotations

import asyncio
import base64
import json
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from schemas import AgencyStatus, Status, StatusEvent, UnitSet
from services.domain.registry import load_registry
from services.runtime.settings import Settings
from services.runtime.topics import STATUS, SUBMITTED, agency_status_topic_name, agency_topic_name
from services.tools import units as units_tool
from services.tools.broker import free_port
from services.tools.units import FILE_KEYS
from tests.harness import harness
from tests.ids import make_complaint_id
from tests.kafka_helpers import consume
from tests.workers import running

pytestmark = pytest.mark.broker

BDG, PUPR, DINKES = "pemda-32-73", "dinas-pupr", "dinas-kesehatan"
BACK = "tidak aktif lagi: aduan kembali ke admin instansi"


def unreachable_signin(folder: Path) -> dict[str, object]:
    """A desk's sign-in settings with a provider nobody asks (no page is opened here)."""
    folder.mkdir(parents=True, exist_ok=True)
    secret, key = folder / "oidc-client.secret", folder / "staff-session.key"
    secret.write_text("not-asked\n")
    key.write_text(base64.urlsafe_b64encode(os.urandom(32)).decode() + "\n")
    for path in (secret, key):
        path.chmod(0o600)
    return {"oidc_issuer": "http://127.0.0.1:9/realms/lapor", "oidc_client_secret_file": secret,
            "staff_session_key_file": key}


def submission(sid: str, body: str, now: datetime) -> tuple[bytes, bytes]:
    return sid.encode(), json.dumps({
        "submission_id": sid, "channel": "web", "submitted_at": now.isoformat(), "body": body,
        "agency_hint": BDG, "location": {"region_code": "32.73.02"}}).encode()


async def judged(settings: Settings, found: Callable[[list[StatusEvent]], bool],
                 timeout_s: float = 90) -> list[StatusEvent]:
    """complaints.status.v1 once `found` holds of its statuses (read again until it does)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        statuses = [StatusEvent.model_validate_json(r.value)
                    for r in await consume(settings, STATUS, timeout_s=3, quiet_s=1) if r.value]
        if found(statuses):
            return statuses
        assert asyncio.get_running_loop().time() < deadline, "not judged in time"


def returns(statuses: list[StatusEvent]) -> list[tuple[str, str | None]]:
    return [(s.complaint_id, s.note) for s in statuses
            if s.status.value == "disposed" and s.unit_id is None and s.note and BACK in s.note]


async def retire(settings: Settings, folder: Path, unit_id: str) -> UnitSet:
    """Bandung publishes its units in force with `unit_id` retired (and its rules gone)."""
    registry = load_registry(settings.agencies_file)
    in_force = (await units_tool.units_book(settings, registry)).of(BDG).unit_set
    data = {k: v for k, v in in_force.model_dump(mode="json", exclude_none=True).items() if k in FILE_KEYS}
    data["units"] = [{**u, "retired": u.get("retired", False) or u["unit_id"] == unit_id} for u in data["units"]]
    data["rules"] = [r for r in data["rules"] if r["unit_id"] != unit_id]
    path = folder / f"units-{in_force.version + 1}.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return await units_tool.publish(settings, path)


async def test_a_retired_units_open_complaints_go_back_to_the_admin_as_judged_statuses(
        request: pytest.FixtureRequest, broker_settings: Settings, tmp_path: Path) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    cid = {k: make_complaint_id("web", f"retired-{k}") for k in ("road", "clinic")}
    async with harness(request, "broker", ["intake", "router", "status_gate"], tmp_path, agencies=(BDG,),
                       desk_port=free_port(), **unreachable_signin(tmp_path / "signin")) as h:
        await h.publish(SUBMITTED, [
            submission("retired-road", "Jalan berlubang besar di Jl. Soekarno-Hatta dekat halte", now),
            submission("retired-clinic", "Puskesmas tutup pada jam layanan, antrean terlantar", now)])
        await h.tick(now.isoformat())
        await h.read(agency_topic_name(BDG), expected=2)  # Bandung holds both
        at = now + timedelta(seconds=1)
        await h.publish(agency_status_topic_name(BDG), [
            (cid[k].encode(), AgencyStatus(event_id=f"bdg-dispose-{k}", complaint_id=cid[k], status=Status.disposed,
                                  at=at, unit_id=unit).to_bytes())
            for k, unit in (("road", PUPR), ("clinic", DINKES))])
        await judged(h.settings, lambda ss: {(s.complaint_id, s.unit_id) for s in ss} >= {
            (cid["road"], PUPR), (cid["clinic"], DINKES)})

        # PUPR retired while no desk runs: the desk finds the road with it when it starts.
        first = await retire(h.settings, tmp_path, PUPR)
        with running("desk", h.settings, tmp_path) as desk:
            statuses = await judged(h.settings, lambda ss: len(returns(ss)) >= 1)
            [back] = [s for s in statuses if s.complaint_id == cid["road"] and s.unit_id is None]
            assert back.agency_id == BDG and back.at == max(first.published_at, at)
            assert back.note == ("Unit Dinas Pekerjaan Umum dan Penataan Ruang Kota Bandung "
                                 "tidak aktif lagi: aduan kembali ke admin instansi")

            # Dinas Kesehatan retired while the desk runs: the clinic goes back too.
            await retire(h.settings, tmp_path, DINKES)
            statuses = await judged(h.settings, lambda ss: {c for c, _ in returns(ss)} == set(cid.values()))
            # The marker (the later return judged) is in: each return was written and judged once.
            assert sorted(c for c, _ in returns(statuses)) == sorted(cid.values())
            sent = [AgencyStatus.model_validate_json(v)
                    for _, v in await h.read(agency_status_topic_name(BDG), timeout_s=5)]
            assert sorted(s.complaint_id for s in sent if s.unit_id is None) == sorted(cid.values())
            assert "retired_units_returned" in desk.log_text()
