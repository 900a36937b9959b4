"""`lapor units publish|show|explain` on the real broker: a version published for Kota
Bandung (a dinas renamed, one retired, a rule added) is what `show` and `explain` see, is
announced on every ticks partition after the partition's latest tick, and a refused file
writes nothing (the good one published after it is the only record)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from schemas import Tick, UnitSet
from services.domain.registry import load_registry
from services.domain.unit_catalogue import starting_units
from services.domain.units import UnitsBook
from services.runtime.settings import Settings
from services.tools import units
from services.runtime.topic_read import read_to_end
from services.runtime.topics import TICKS, UNITS
from tests.kafka_helpers import create_contract_topics, isolated, produce

AGENCY = "pemda-32-73"
AS_OF = "2026-03-02T09:00:00+07:00"
DSDABM = "Dinas Sumber Daya Air dan Bina Marga Kota Bandung"


def lapor(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "services.tools.cli", *args], env=settings.environment(),
                          capture_output=True, text=True, timeout=60)


def version_one() -> dict[str, Any]:
    """Kota Bandung's own: Dinas PUPR is its Dinas SDA dan Bina Marga, a city has no
    villages (DPMD retired, its rule gone), and flooding goes to the DSDABM first."""
    start = starting_units(load_registry())(AGENCY)
    units = []
    for u in start.units:
        unit = u.model_dump(mode="json", exclude_defaults=True)
        if u.unit_id == "dinas-pupr":
            unit["name"] = DSDABM
        if u.unit_id == "dpmd":
            unit["retired"] = True
        units.append(unit)
    rules = [{"rule_id": "banjir", "unit_id": "dinas-pupr", "priority": 1,
              "keywords": ["banjir", "drainase"], "explanation": "Banjir dan drainase: DSDABM"}]
    rules += [r.model_dump(mode="json", exclude_defaults=True) for r in start.rules if r.unit_id != "dpmd"]
    return {"agency_id": AGENCY, "units": units, "rules": rules}


def write(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
    return path


async def test_publish_show_explain_and_refusals(broker_settings: Settings, tmp_path: Path) -> None:
    settings = isolated(broker_settings)
    await create_contract_topics(settings)
    for p in range(settings.partitions):  # each partition's latest tick, repeated by the announcement
        await produce(settings, TICKS, [(None, Tick.model_validate({"as_of": AS_OF}).to_bytes())], partition=p)

    before = lapor(settings, "units", "show", AGENCY)
    assert before.returncode == 0, before.stderr
    assert f"{AGENCY}: units version 0 (starting set)" in before.stdout
    assert "dinas-pupr: Dinas Pekerjaan Umum dan Penataan Ruang Kota Bandung" in before.stdout

    good = version_one()
    # Refused: DPMD retired but its rule kept; an agency that is not registered.
    kept_rule = {**good, "rules": good["rules"] + [{"rule_id": "dana-desa", "unit_id": "dpmd",
                                                     "explanation": "Dana desa"}]}
    refused = lapor(settings, "units", "publish", str(write(tmp_path / "bad.yaml", kept_rule)))
    assert refused.returncode == 2
    assert f"refused: {tmp_path / 'bad.yaml'}: rules: dana-desa: unit dpmd is not an active unit" in refused.stdout
    stranger = lapor(settings, "units", "publish", str(write(tmp_path / "who.yaml", {**good, "agency_id": "pemda-99"})))
    assert stranger.returncode == 2 and "'pemda-99' is not a registered agency" in stranger.stdout

    published = lapor(settings, "units", "publish", str(write(tmp_path / "v1.yaml", good)), "--note", "Perwal 2026")
    assert published.returncode == 0, published.stdout + published.stderr
    assert f"published units version 1 of {AGENCY}" in published.stdout

    # The good file is the only record on agency.units.v1: the refused ones wrote nothing.
    records = await read_to_end(settings, UNITS)
    versions = [UnitSet.model_validate_json(r.value or b"") for r in records]
    assert [(r.key, v.version, v.note) for r, v in zip(records, versions)] == [
        (AGENCY.encode(), 1, "Perwal 2026")]
    # Every ticks partition: its tick, then the announcement repeating the tick's time.
    ticks = await read_to_end(settings, TICKS)
    by_partition: dict[int, list[Tick]] = {}
    for r in ticks:
        by_partition.setdefault(r.partition, []).append(Tick.model_validate_json(r.value or b""))
    assert sorted(by_partition) == list(range(settings.partitions))
    for announced in by_partition.values():
        assert [(t.units.version if t.units else None) for t in announced] == [None, 1]
        assert announced[1].as_of == announced[0].as_of and announced[1].units == versions[0]

    shown = lapor(settings, "units", "show", AGENCY)
    assert shown.returncode == 0, shown.stderr
    assert f"{AGENCY}: units version 1 (published " in shown.stdout and "Perwal 2026" in shown.stdout
    assert f"dinas-pupr: {DSDABM}" in shown.stdout
    assert "dpmd: Dinas Pemberdayaan Masyarakat dan Desa Kota Bandung  (retired)" in shown.stdout
    assert "banjir (priority 1) -> dinas-pupr: keywords=banjir,drainase" in shown.stdout
    as_json = json.loads(lapor(settings, "units", "show", AGENCY, "--json").stdout)
    assert as_json["version"] == 1 and as_json["agency_id"] == AGENCY
    assert lapor(settings, "units", "show", "kpk").stdout.startswith("kpk: units version 0")

    explained = lapor(settings, "units", "explain", AGENCY, "--text", "Saluran tersumbat, banjir tiap hujan",
                      "--category", "other", "--region", "32.73.02")
    assert explained.returncode == 0, explained.stderr
    assert "  banjir (priority 1) -> dinas-pupr: chosen" in explained.stdout
    assert f"-> dinas-pupr: {DSDABM} (rule banjir: Banjir dan drainase: DSDABM)" in explained.stdout

    # The next publication is version 2; one that drops a unit is refused.
    assert "published units version 2" in lapor(settings, "units", "publish", str(tmp_path / "v1.yaml")).stdout
    dropped = {**good, "units": [u for u in good["units"] if u["unit_id"] != "dpmd"]}
    gone = lapor(settings, "units", "publish", str(write(tmp_path / "gone.yaml", dropped)))
    assert gone.returncode == 2 and "units: dpmd was in version 2: retire it" in gone.stdout


async def test_two_publications_at_once_leave_one_version_in_force_everywhere(
        broker_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two operators publish the agency at the same moment: both read version 0 in force
    and write version 1. The first record of version 1 is what every reader keeps, so the
    later publication is not in force: it is told so, announces nothing, and writes the
    first again so that compaction keeps it."""
    settings = isolated(broker_settings)
    await create_contract_topics(settings)
    stale = await units.units_book(settings, load_registry())  # what both operators read

    async def read_before_the_other_wrote(*_: object) -> UnitsBook:
        return stale
    monkeypatch.setattr(units, "units_book", read_before_the_other_wrote)

    ours = version_one()
    theirs = {**ours, "note": "the other operator's"}
    first = await units.publish(settings, write(tmp_path / "first.yaml", ours), "first")
    with pytest.raises(units.UnitsPublishedMeanwhile, match="version 1 of pemda-32-73 was published"):
        await units.publish(settings, write(tmp_path / "second.yaml", theirs), "second")

    records = await read_to_end(settings, UNITS)
    notes = [UnitSet.model_validate_json(r.value or b"").note for r in records]
    assert notes == ["first", "second", "first"]  # the last record (what compaction keeps): the first
    assert records[-1].value == records[0].value == first.to_bytes()
    announced = [Tick.model_validate_json(r.value or b"").units for r in await read_to_end(settings, TICKS)]
    assert [u.note if u else None for u in announced] == ["first"] * settings.partitions


async def test_a_publication_that_read_before_two_others_puts_back_the_highest_version(
        broker_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One operator reads version 0 in force, then two others publish versions 1 and 2 before
    its own version 1 lands. It is not in force, and the record it writes again is version 2
    (every live reader's): compaction keeps what is in force, not its rival of the same number."""
    settings = isolated(broker_settings)
    await create_contract_topics(settings)
    stale = await units.units_book(settings, load_registry())
    first = await units.publish(settings, write(tmp_path / "first.yaml", version_one()), "first")
    second = await units.publish(settings, write(tmp_path / "second.yaml", version_one()), "second")
    assert (first.version, second.version) == (1, 2)

    async def read_before_both_wrote(*_: object) -> UnitsBook:
        return stale
    monkeypatch.setattr(units, "units_book", read_before_both_wrote)
    with pytest.raises(units.UnitsPublishedMeanwhile, match=r"yours is not in force \(version 2 is\)"):
        await units.publish(settings, write(tmp_path / "late.yaml", version_one()), "late")

    records = await read_to_end(settings, UNITS)
    assert [UnitSet.model_validate_json(r.value or b"").note for r in records] == [
        "first", "second", "late", "second"]
    assert records[-1].value == second.to_bytes()
    announced = [Tick.model_validate_json(r.value or b"").units for r in await read_to_end(settings, TICKS)]
    assert "late" not in [u.note for u in announced if u]
