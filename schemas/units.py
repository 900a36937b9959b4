"""Units inside an agency (unit kerja, OPD) and LAPOR!'s own categories: an extension of v1
(new topics and bodies, and optional fields on existing events; no field changes meaning).

An agency's admin (admin instansi) verifies a complaint and dispositions it to the unit that
will answer it: a directorate general of a ministry, a dinas of a regency, a kecamatan. The
contract's clocks stay the agency's; a unit gets an internal deadline inside them."""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import Field, StrictBool, StringConstraints

from schemas.common import AgencyId, Category, Timestamp, WireModel, WirePart

# A unit's id is unique within its agency only: `dinas-pupr`, `ditjen-ketenagalistrikan`.
UnitId = Annotated[str, StringConstraints(strict=True, pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")]
UnitName = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=200)]
# LAPOR!'s category names as its report pages write them (upper case, Bahasa Indonesia).
LaporCategoryName = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=120)]
RuleId = Annotated[str, StringConstraints(strict=True, pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]
RegionCodeText = Annotated[str, StringConstraints(pattern=r"^\d{2}(\.\d{2}(\.\d{2}(\.\d{4})?)?)?$")]


class LaporCategory(WirePart):
    """A category of LAPOR!'s taxonomy (38 main, 929 sub-categories), e.g.
    `{"main": "PEKERJAAN UMUM DAN PENATAAN RUANG", "sub": "JALAN BERLUBANG"}`. A channel may
    send one with a complaint; intake keeps it when LAPOR! knows it, and otherwise maps the
    project's own category to LAPOR!'s main category."""

    main: LaporCategoryName
    sub: LaporCategoryName | None = None


class Unit(WirePart):
    unit_id: UnitId
    name: UnitName  # shown to staff and, on lacak, to the reporter
    parent_id: UnitId | None = None  # a unit of a unit (a bidang of a dinas)
    region_code: RegionCodeText | None = None  # a kecamatan's, a UPT's area
    # Retired: no complaint is dispositioned to it any more; its open complaints go back to
    # the agency's admin. Kept in the set, so old statuses still name it.
    retired: StrictBool = False


class DispositionRule(WirePart):
    """One of an agency's rules that disposition a complaint to a unit without its admin.
    A rule matches when every criterion it names matches (an empty list is no criterion);
    the highest `priority` wins, then the first in the file. `explanation` is shown with
    the disposition, like the router's reasons."""

    rule_id: RuleId
    unit_id: UnitId
    priority: int = 0
    lapor_categories: list[LaporCategory] = Field(default_factory=list)
    categories: list[Category] = Field(default_factory=list)
    keywords: list[Annotated[str, StringConstraints(strict=True, min_length=2, max_length=100)]] = (
        Field(default_factory=list))
    regions: list[RegionCodeText] = Field(default_factory=list)  # a prefix: "32.73" holds "32.73.01"
    explanation: Annotated[str, StringConstraints(strict=True, min_length=1, max_length=300)]


class UnitSet(WireModel):
    """agency.units.v1 (compacted), key agency_id: one agency's units and disposition rules,
    each publication a new version (`lapor units publish FILE`). An agency that never
    published has the shipped starting set (version 0). The latest version is in force."""

    topic_name: ClassVar[str] = "agency.units.v1"
    schema_name: ClassVar[str] = "unit_set"
    agency_id: AgencyId
    version: int = Field(ge=0)
    published_at: Timestamp
    units: list[Unit] = Field(default_factory=list, max_length=2000)
    rules: list[DispositionRule] = Field(default_factory=list, max_length=2000)
    # A unit's internal deadline: the agency's running deadline less this many working days.
    unit_days_before: int = Field(1, ge=0, le=30)
    # The admin's time to verify and disposition, in working days from the routing.
    verification_days: int = Field(3, ge=1, le=30)
    # A unit's `responded`/`resolved` waits for the liaison officer's approval.
    approval: StrictBool = False
    note: Annotated[str, StringConstraints(strict=True, max_length=500)] | None = None
