"""Who a signed-in staff member is to LAPOR!, from the provider's group claim (pure).

The provider (Keycloak, or the government's own) puts the user's groups in a claim
(LAPOR_OIDC_GROUPS_CLAIM, `groups` by default), as full paths. Three kinds of group mean
something here, under one root group (LAPOR_STAFF_GROUP_ROOT, `/lapor`): the national
operators' group (LAPOR_STAFF_OPERATOR_GROUP, `national-operator`: the path
`/lapor/national-operator`), one group per agency, the agency id behind a prefix
(LAPOR_STAFF_AGENCY_PREFIX, `agency-`: `/lapor/agency-pln` is the role `agency:pln`, the
agency's admin: its whole desk and the dispositions), and under an agency's group one
group per unit of that agency (`unit-` and the unit's id: `/lapor/agency-pemda-32-73/unit-dinas-pupr`
is the role `unit:pemda-32-73/dinas-pupr`, the unit's staff: only the complaints
dispositioned to that unit). A member of an agency's group and of one of its units' is the
agency's admin. Any other group is ignored; a user with none of them sees nothing.

Only the full path counts, never the last segment: whoever may create subgroups somewhere
(Keycloak can delegate that to an agency's admin) could otherwise name one
`/lapor/agency-pln/national-operator` and be a national operator, or
`/lapor/agency-pln/agency-bpjs-kesehatan` and see another agency's desk. A unit's group is
exactly two levels under the root and names its agency in its own path, so an agency's admin
who creates subgroups under their agency's group makes units of that agency only. A bare
name (a provider that sends names, not paths) is ignored for the same reason."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

AGENCY_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
UNIT_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")  # schemas.units.UnitId
UNIT_PREFIX = "unit-"  # a unit's group under its agency's: `unit-<unit_id>`


@dataclass(frozen=True)
class StaffRoles:
    national_operator: bool
    agencies: frozenset[str]  # the agencies whose admin the user is
    units: frozenset[tuple[str, str]] = frozenset()  # (agency, unit) whose staff the user is

    @property
    def any(self) -> bool:
        return self.national_operator or bool(self.agencies) or bool(self.units)

    def names(self) -> list[str]:
        """The roles as the README writes them: `national-operator`, `agency:<id>`,
        `unit:<agency>/<unit>`."""
        return ((["national-operator"] if self.national_operator else [])
                + [f"agency:{a}" for a in sorted(self.agencies)]
                + [f"unit:{a}/{u}" for a, u in sorted(self.units)])


def roles_from_groups(groups: Iterable[object], root: str, operator_group: str,
                      agency_prefix: str) -> StaffRoles:
    """Roles from groups given as full paths, each exactly `<root>/<group>` or, for a unit,
    `<root>/<agency group>/unit-<unit_id>`. An agency or unit group whose id is not well
    formed is ignored rather than trusted."""
    operator, agencies, units = False, set(), set()
    head = root.rstrip("/") + "/"
    for group in groups:
        if not isinstance(group, str) or not group.startswith(head):
            continue
        name, deeper, unit = group[len(head):].partition("/")
        agency = name[len(agency_prefix):] if name.startswith(agency_prefix) else ""
        if not deeper:
            if name == operator_group:
                operator = True
            elif AGENCY_ID.fullmatch(agency):
                agencies.add(agency)
        elif (AGENCY_ID.fullmatch(agency) and unit.startswith(UNIT_PREFIX)
              and UNIT_ID.fullmatch(unit[len(UNIT_PREFIX):])):
            units.add((agency, unit[len(UNIT_PREFIX):]))
    # The agency's admin sees its whole desk: a unit role of the same agency adds nothing.
    return StaffRoles(operator, frozenset(agencies),
                      frozenset((a, u) for a, u in units if a not in agencies))
