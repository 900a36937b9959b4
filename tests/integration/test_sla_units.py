"""A unit late on its internal deadline, on the real broker (#34): Bandung's complaint,
dispositioned to Dinas PUPR by a `disposed` status, is escalated once to the agency's admin
when the unit's deadline passes, and never beyond it; the unit's share of compliance is
reported with its unit_id."""

from __future__ import annotations

import asyncio
from pathlib import Path

from schemas import ComplianceStats, Escalation
from services.runtime.settings import Settings
from tests.integration.test_sla_monitor import exact, play, wait_until_running
from tests.kafka_helpers import consume, create_contract_topics, isolated
from tests.sla_scenario import Step, accepted, routed, run_in_memory, status, tick
from tests.workers import running

CID, BDG = "LPR-DDDDDDDDDDD7", "pemda-32-73"


def disposed(at: str) -> Step:
    topic, key, value = status(CID, "disposed", BDG, at)
    return topic, key, {**value, "unit_id": "dinas-pupr",
                        "unit_name": "Dinas Pekerjaan Umum dan Penataan Ruang Kota Bandung"}


# Routed Mon 2 March; dispositioned Tue 3 March: the unit's deadline is the agency's
# follow_up (10 March) less a working day, 7 March 00:00. The follow_up's level 2 (13 March)
# comes after the level 2 the unit's clock would have had (7 March + 3 working days: 12 March).
UNIT_LOG: list[Step] = [
    accepted(CID, "2026-03-02T09:00:00+07:00"), routed(CID, BDG, "2026-03-02T09:00:00+07:00"),
    disposed("2026-03-03T10:00:00+07:00"),
    tick("2026-03-03T12:00:00+07:00"), tick("2026-03-07T00:00:00+07:00"),
    tick("2026-03-10T00:00:00+07:00"), tick("2026-03-13T00:00:00+07:00"),
]


async def _until(settings: Settings, topic: str, found: object, timeout_s: float = 90) -> list[bytes]:
    """The topic's records (values) once `found(values)` holds (read again until it does)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        values = [r.value or b"" for r in await consume(settings, topic, timeout_s=3, quiet_s=1)]
        if found(values):  # type: ignore[operator]
            return values
        assert asyncio.get_running_loop().time() < deadline, f"nothing on {topic} in time"


async def test_a_late_unit_is_escalated_to_its_admin_and_not_beyond(broker_settings: Settings,
                                                                      tmp_path: Path) -> None:
    settings = exact(isolated(broker_settings))
    await create_contract_topics(settings)
    with running("sla_monitor", settings, tmp_path, name="sla-units"):
        await wait_until_running(settings)
        await play(settings, UNIT_LOG)

        def ours(values: list[bytes]) -> list[Escalation]:
            return [e for e in map(Escalation.model_validate_json, values) if e.complaint_id == CID]

        # The positive marker: the contract's follow_up level 2 (13 March), from the last tick.
        values = await _until(settings, "sla.escalations.v1", lambda vs: any(
            e.clock.value == "follow_up" and e.level == 2 for e in ours(vs)))
        got = ours(values)
        internal = [e for e in got if e.clock.value in ("disposition", "unit_response")]
        assert [(e.clock.value, e.kind.value, e.level, e.target.value, e.unit_id, e.due_at.isoformat())
                for e in internal] == [
            ("unit_response", "breach", 1, "agency_admin", "dinas-pupr", "2026-03-07T00:00:00+07:00")]
        # The worker's escalations are the in-memory double's, ids and all.
        expected = [o.event for o in run_in_memory(UNIT_LOG, lateness_minutes=0)
                    if isinstance(o.event, Escalation)]
        assert sorted(e.escalation_id for e in got) == sorted(e.escalation_id for e in expected)

        # The unit's share of its agency's days: dispositioned on the 3rd, late on the 7th.
        def unit_days(values: list[bytes]) -> dict[str, ComplianceStats]:
            stats = map(ComplianceStats.model_validate_json, values)
            return {s.day.isoformat(): s for s in stats if s.unit_id == "dinas-pupr" and s.agency_id == BDG}

        values = await _until(settings, "sla.compliance.v1",
                              lambda vs: {"2026-03-03", "2026-03-07"} <= set(unit_days(vs)))
        days = unit_days(values)
        assert (days["2026-03-03"].received, days["2026-03-03"].first_response_on_time) == (1, 0)
        assert days["2026-03-07"].breaches == {"unit_response": 1}
        assert days["2026-03-07"].open_overdue_end_of_day == 1
        agency = [s for s in map(ComplianceStats.model_validate_json, values)
                  if s.agency_id == BDG and s.unit_id is None]
        assert sum(s.first_response_on_time for s in agency) == 0  # a disposition answers nobody
        assert not any("unit_response" in s.breaches for s in agency)
