"""Who a signed-in staff member is to LAPOR!, from the provider's group claim (pure).

The provider (Keycloak, or the government's own) puts the user's groups in a claim
(LAPOR_OIDC_GROUPS_CLAIM, `groups` by default), as full paths. Two kinds of group mean
something here, both directly under one root group (LAPOR_STAFF_GROUP_ROOT, `/lapor`): the
national operators' group (LAPOR_STAFF_OPERATOR_GROUP, `national-operator`: the path
`/lapor/national-operator`) and one group per agency, the agency id behind a prefix
(LAPOR_STAFF_AGENCY_PREFIX, `agency-`: `/lapor/agency-pln` is the role `agency:pln`). Any
other group is ignored; a user with neither kind sees nothing.

Only the full path counts, never the last segment: whoever may create subgroups somewhere
(Keycloak can delegate that to an agency's admin) could otherwise name one
`/lapor/agency-pln/national-operator` and be a national operator, or
`/lapor/agency-pln/agency-bpjs-kesehatan` and see another agency's desk. A bare name (a
provider that sends names, not paths) is ignored for the same reason."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

AGENCY_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")


@dataclass(frozen=True)
class StaffRoles:
    national_operator: bool
    agencies: frozenset[str]

    @property
    def any(self) -> bool:
        return self.national_operator or bool(self.agencies)

    def names(self) -> list[str]:
        """The roles as the README writes them: `national-operator`, `agency:<id>`."""
        return ((["national-operator"] if self.national_operator else [])
                + [f"agency:{a}" for a in sorted(self.agencies)])


def roles_from_groups(groups: Iterable[object], root: str, operator_group: str,
                      agency_prefix: str) -> StaffRoles:
    """Roles from groups given as full paths, each exactly `<root>/<group>`. An agency group
    whose id is not a well-formed agency id is ignored rather than trusted."""
    operator, agencies = False, set()
    head = root.rstrip("/") + "/"
    for group in groups:
        if not isinstance(group, str) or not group.startswith(head):
            continue
        name = group[len(head):]
        if name == operator_group:
            operator = True
        elif name.startswith(agency_prefix) and AGENCY_ID.fullmatch(name[len(agency_prefix):]):
            agencies.add(name[len(agency_prefix):])
    return StaffRoles(operator, frozenset(agencies))
