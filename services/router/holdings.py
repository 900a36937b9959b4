"""Who holds each complaint, who refused it, and what a status event changes. Pure."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from schemas import AcceptedComplaint, Role, Status, StatusEvent
from services.domain.registry import Registry
from services.domain.words import normalise_words
from services.router.engine import TRIAGE_RULE, Decision, Facts, Router
from services.router.redact import for_agency

PING_PONG = "ping_pong"


@dataclass(frozen=True)
class Delivery:
    agency_id: str | None  # None: triage
    role: Role
    rule_id: str
    reason: str
    attempt: int
    routed_at: datetime


@dataclass(frozen=True)
class Holding:
    complaint_id: str
    holder: str | None  # None while in triage
    attempt: int
    routed_at: datetime
    tried: tuple[str, ...] = ()  # agencies that refused (bukan wewenang)
    facts: dict[str, Any] = field(default_factory=dict)  # what re-routing needs of the complaint

    def to_dict(self) -> dict[str, Any]:
        return {"complaint_id": self.complaint_id, "holder": self.holder, "attempt": self.attempt,
                "routed_at": self.routed_at.isoformat(), "tried": list(self.tried), "facts": self.facts}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Holding:
        return cls(d["complaint_id"], d["holder"], d["attempt"], datetime.fromisoformat(d["routed_at"]),
                   tuple(d["tried"]), d["facts"])


def _facts(c: AcceptedComplaint) -> dict[str, Any]:
    f = Facts.of(c)
    return {"text": f.text, "category": f.category, "type": f.type, "region": f.region, "hint": f.hint}


def _restore(d: dict[str, Any]) -> Facts:
    return Facts(normalise_words(d["text"]), d["text"], d["category"], d["type"], d["region"], d["hint"])


def _deliveries(decision: Decision, attempt: int, at: datetime, reason: str | None = None) -> list[Delivery]:
    if decision.triage:
        return [Delivery(None, Role.primary, decision.rule_id, reason or "triage", attempt, at)]
    out = [Delivery(decision.agency_id, Role.primary, decision.rule_id, decision.reason, attempt, at)]
    out += [Delivery(c, Role.copy, decision.rule_id, f"tembusan: {decision.reason}", attempt, at)
            for c in decision.copies]
    return out


def first_route(c: AcceptedComplaint, router: Router) -> tuple[Holding, list[Delivery]]:
    decision = router.decide(c)
    # Kept for re-routing: the facts of the agency view (an anonymous reporter's NIK, phone
    # and e-mail masked in the text), not of the complaint as the reporter sent it.
    holding = Holding(c.complaint_id, decision.agency_id, 1, c.accepted_at, (), _facts(for_agency(c)))
    return holding, _deliveries(decision, 1, c.accepted_at)


@dataclass(frozen=True)
class StatusOutcome:
    holding: Holding
    deliveries: list[Delivery]
    note: str  # what happened, for the log: rerouted, triaged, assigned, noted


def on_status(h: Holding, s: StatusEvent, at: datetime, router: Router, registry: Registry,
              max_refusals: int) -> StatusOutcome:
    """What a status the judge passed (`judge`) changes: an `assigned` (of a complaint in
    triage, to an agency in the registry) or the holder's `not_our_authority` moves the
    complaint. `at` is the status time capped at its record's Kafka timestamp."""
    if s.status is Status.assigned:
        assert s.target_agency_id is not None
        moved = replace(h, holder=s.target_agency_id, attempt=h.attempt + 1, routed_at=at)
        return StatusOutcome(moved, [Delivery(s.target_agency_id, Role.primary, "assigned",
                                              "assigned by the national admin", moved.attempt, at)], "assigned")
    if s.status is not Status.not_our_authority or h.holder is None:
        return StatusOutcome(h, [], "noted")
    tried = (*h.tried, h.holder)
    attempt = h.attempt + 1
    if len(tried) >= max_refusals:
        moved = replace(h, holder=None, attempt=attempt, routed_at=at, tried=tried)
        return StatusOutcome(moved, [Delivery(None, Role.primary, PING_PONG, PING_PONG, attempt, at)], "triaged_ping_pong")
    target = s.target_agency_id
    if target is not None and target in registry and target not in tried:
        decision = Decision(target, "not_our_authority.target", f"named by {h.holder} as responsible")
    else:
        found = router.decide_facts(_restore(h.facts), exclude=tried)
        decision = replace(found, reason=f"not_our_authority from {h.holder}; {found.reason}")
    moved = replace(h, holder=decision.agency_id, attempt=attempt, routed_at=at, tried=tried)
    primary = [d for d in _deliveries(decision, attempt, at, reason="not_our_authority")
               if d.role is Role.primary]
    return StatusOutcome(moved, primary, "triaged" if decision.rule_id == TRIAGE_RULE else "rerouted")
