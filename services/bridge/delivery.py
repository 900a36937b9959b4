"""Where a complaint goes, how a delivery attempt's result decides what happens next and how
long to wait before the next try. Pure: time comes in as numbers. (Each endpoint's request
budget is a services.web.rate_limit.TokenBucket.)"""

from __future__ import annotations

import random
from enum import StrEnum

from schemas import AgencyComplaint
from services.bridge.config import BridgeConfig, Open311Agency, Target


class NotSent(StrEnum):
    """A record the bridge sends nowhere, and why (it is done all the same)."""

    # A disposition's copy for an Open311 agency, to a unit with no endpoint of its own:
    # GeoReport v2 has no disposition, and the agency's server filed the request already.
    open311_disposition = "open311_disposition"


def destination(config: BridgeConfig, agency_id: str,
                complaint: AgencyComplaint) -> Target | Open311Agency | NotSent:
    """Where a record of the agency's topic goes. As routed (no `disposition`): the agency's
    own endpoint or Open311 server. A disposition's copy: the unit's own endpoint when the
    agency configured one, else the agency's own webhook (its system learns which unit has
    it, or that it came back to the admin), else nowhere (an Open311 agency)."""
    agency = config.agency(agency_id)
    if complaint.disposition is not None:
        unit = config.unit_target(agency_id, complaint.disposition.unit_id)
        if unit is not None:
            return unit
    if isinstance(agency, Open311Agency):
        return agency if complaint.disposition is None else NotSent.open311_disposition
    return config.webhook_target(agency_id)


class Verdict(StrEnum):
    delivered = "delivered"
    retry = "retry"  # the endpoint may take it later: wait and try again, in order
    refused = "refused"  # it never will (a 4xx about this request): dead-letter it, go on
    gone = "gone"  # 410: the endpoint is gone for good; hold the agency's complaints


# 4xx answers that can change with time: the endpoint is overloaded, not yet ready, or
# asks us to slow down. Every other 4xx is about the request itself.
RETRYABLE_4XX = frozenset({408, 409, 423, 425, 429})


def verdict(status: int | None) -> Verdict:
    """None: no answer at all (refused connection, time-out, TLS failure)."""
    if status is None or status >= 500 or status in RETRYABLE_4XX:
        return Verdict.retry
    if 200 <= status < 300:
        return Verdict.delivered
    if status == 410:
        return Verdict.gone  # about the endpoint, not this request: every later one would be too
    if 300 <= status < 400:
        return Verdict.refused  # redirects are not followed: a moved endpoint needs its operator
    return Verdict.refused


def backoff_s(failures: int, base_s: float, cap_s: float,
              draw: float | None = None) -> float:
    """Wait before the next try after `failures` failed ones: exponential, capped, with full
    jitter (a uniform draw below the bound), so that many agencies' retries after an outage
    do not arrive together."""
    bound = min(cap_s, base_s * 2 ** max(0, failures - 1))
    return float(bound * (random.random() if draw is None else draw))
