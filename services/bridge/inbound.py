"""Statuses an agency's system posts back (webhook mode): verified, then passed to the status
gate on the agency's own status topic. The bridge holds that topic's write grant for the
agencies it serves: it has checked the agency's signature, which stands in for the ACL the
agency's own Kafka principal would have met."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import ValidationError

from schemas import AgencyStatus
from services.bridge.config import AGENCY_STATUSES, BridgeConfig, WebhookAgency
from services.domain.agency_status_rules import agency_fields_problem
from services.bridge.signing import (
    SIGNATURE, TIMESTAMP, WEBHOOK_ID, WEBHOOK_SIGNATURE, Unverified, verify, verify_standard,
)


def seen_call_key(agency_id: str, replay_key: str) -> str:
    """The replay cache's key for a call (also its key on bridge.seen-calls.v1): its agency
    and a digest of its webhook-id or signature (short and fixed; the signature is not kept)."""
    return f"{agency_id}|{hashlib.sha256(replay_key.encode()).hexdigest()[:32]}"


@dataclass(frozen=True)
class Accepted:
    status: AgencyStatus
    replay_keys: tuple[str, ...] = ()  # what the replay cache took for this call (to forget)


class SeenSignatures:
    """Calls accepted within the replay window, by `seen_call_key` (the same call sent twice
    inside the window is a replay too): those this worker accepted and those every other
    bridge worker did (followed on bridge.seen-calls.v1, and read back after a restart).
    Bounded by the window (old entries fall out as time passes) and by `most`."""

    def __init__(self, window_s: float, most: int = 100_000):
        self.window_s, self.most = window_s, most
        self._seen: OrderedDict[str, float] = OrderedDict()

    def _drop_old(self, now: float) -> None:
        while self._seen and (next(iter(self._seen.values())) < now - 2 * self.window_s
                              or len(self._seen) > self.most):
            self._seen.popitem(last=False)

    def first_time(self, key: str, now: float) -> bool:
        self._drop_old(now)
        if key in self._seen:
            return False
        self._seen[key] = now
        return True

    def remember(self, key: str, seen_at: float, now: float) -> None:
        """A call another worker (or this one, before a restart) accepted at `seen_at`; aged
        by this worker's clock (a time ahead of it is taken as now: one entry from the future
        must not age out every other)."""
        if key not in self._seen:
            self._seen[key] = min(seen_at, now)
        self._drop_old(now)

    def __len__(self) -> int:
        return len(self._seen)

    def forget(self, *keys: str) -> None:
        """A call accepted but not passed on (Kafka failed): its retry must not be a replay."""
        for key in keys:
            self._seen.pop(key, None)


def accept_status(config: BridgeConfig, agency_id: str, headers: Mapping[str, str], body: bytes,
                  now: float, seen: SeenSignatures) -> Accepted | Unverified:
    """The agency's status to publish, or the refusal (HTTP status and reason code)."""
    agency = config.agencies.get(agency_id)
    if not isinstance(agency, WebhookAgency):
        return Unverified(401, "unknown_agency")  # no secret to verify with: who is this?
    window = config.file.replay_window_s
    # The message id is a Standard call's identity: resent under the same id is a replay. A
    # call that also carries the deprecated signature has that recorded too, so the same
    # call stripped of its webhook-* headers is a replay as well.
    legacy_key = seen_call_key(agency_id, f"sig|{headers.get(SIGNATURE)}") if SIGNATURE in headers else None
    if WEBHOOK_SIGNATURE in headers or SIGNATURE not in headers:
        refused = verify_standard(config.keys[agency_id], headers, body, now, window)
        keys = (seen_call_key(agency_id, f"id|{headers.get(WEBHOOK_ID)}"),
                *((legacy_key,) if legacy_key else ()))
    else:  # deprecated: X-Lapor-Signature only
        refused = verify(config.secrets[agency_id], headers.get(TIMESTAMP), headers.get(SIGNATURE),
                         body, now, window)
        keys = (seen_call_key(agency_id, f"sig|{headers.get(SIGNATURE)}"),)
    if refused is not None:
        return refused
    try:
        status = AgencyStatus.model_validate_json(body)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(map(str, first["loc"])) or "$"
        return Unverified(400, f"invalid_body: {where}: {first['msg']}")
    if status.agency_id is not None and status.agency_id != agency_id:
        return Unverified(400, "agency_mismatch")
    if status.status not in AGENCY_STATUSES:
        return Unverified(400, "status_not_allowed")
    # The status gate's rules on an agency's fields (a channel, a rule_id, the unit fields),
    # answered here: past this door the call is answered 202 and the gate's dead letter is
    # never heard by the agency's system.
    problem = agency_fields_problem(status)
    if problem is not None:
        return Unverified(400, problem)
    # Recorded only once the call is one we accept: a refused call's retry (its answer lost)
    # is refused again for its own reason, never answered "replayed" as if it had gone in.
    if not all([seen.first_time(key, now) for key in keys]):  # every key recorded, not just the first
        return Unverified(400, "replayed")
    return Accepted(status.model_copy(update={"agency_id": agency_id}), keys)
