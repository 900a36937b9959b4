"""`lapor status … assigned` says at once what the status gate would dead-letter, before
anything is sent (services/tools/operator.py)."""

from __future__ import annotations

import pytest

from services.runtime.settings import Settings
from services.tools.operator import status

CID = "LPR-7K2QX9M4TD5B"


@pytest.mark.parametrize("fields", [{"agency_id": "pln", "target_agency_id": "pln"}, {}])
async def test_an_assignment_needs_a_target_and_no_agency(fields: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="national admin"):
        # no broker at this address: the refusal comes before any connection
        await status(Settings(bootstrap_servers="127.0.0.1:1"),
                     {"complaint_id": CID, "status": "assigned", **fields})
