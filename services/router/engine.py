"""The routing decision: which agency gets a complaint, which get copies, and why."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from schemas import AcceptedComplaint
from services.domain.registry import Registry
from services.domain.words import contains_phrase, normalise_words
from services.router.rules import Rule

HINT_RULE, REGION_RULE, TRIAGE_RULE = "agency_hint", "region", "triage"


@dataclass(frozen=True)
class Decision:
    agency_id: str | None  # None: triage
    rule_id: str
    reason: str
    copies: tuple[str, ...] = ()
    matched: list[str] = field(default_factory=list)  # every rule that matched, for explain

    @property
    def triage(self) -> bool:
        return self.agency_id is None


@dataclass(frozen=True)
class Facts:
    """What the rules look at, extracted once per complaint."""

    words: str
    text: str
    category: str
    type: str
    region: str | None
    hint: str | None

    @classmethod
    def of(cls, c: AcceptedComplaint) -> Facts:
        text = f"{c.title or ''}\n{c.body}"
        region = c.location.region_code if c.location else None
        return cls(normalise_words(text), text, c.category.value, c.type.value, region, c.agency_hint)


def _why(rule: Rule, f: Facts) -> str | None:
    """The reason the rule matches, or None."""
    if rule.regions and not (f.region and any(f.region == r or f.region.startswith(r + ".")
                                              for r in rule.regions)):
        return None
    if rule.types and f.type not in rule.types:
        return None
    if not rule.has_topic:
        return f"region {f.region}" if rule.regions else f"type {f.type}"
    if f.category in rule.categories:
        return f"category {f.category}"
    for kw in rule.keywords:
        if contains_phrase(f.words, kw):
            return f"keyword '{kw}'"
    for pattern in rule.patterns:
        if pattern.search(f.text):
            return f"pattern '{pattern.pattern}'"
    return None


class Router:
    def __init__(self, rules: list[Rule], registry: Registry):
        # Highest priority first; file order breaks ties.
        self.rules = sorted(rules, key=lambda r: (-r.priority, r.order))
        self.registry = registry

    def decide(self, complaint: AcceptedComplaint, exclude: Collection[str] = ()) -> Decision:
        return self.decide_facts(Facts.of(complaint), exclude)

    def decide_facts(self, f: Facts, exclude: Collection[str] = (), explain: bool = False) -> Decision:
        """The decision; with `explain`, `matched` lists every rule that matches (the CLI's
        explanation), else only those looked at before the decision (routing stops early)."""
        matched: list[str] = []
        if f.hint and f.hint in self.registry and f.hint not in exclude:
            if explain:
                matched = [r.id for r in self.rules if _why(r, f) is not None]
            return Decision(f.hint, HINT_RULE, f"agency_hint {f.hint} chosen by the reporter",
                            matched=matched)
        chosen: Decision | None = None
        for rule in self.rules:
            why = _why(rule, f)
            if why is None:
                continue
            matched.append(rule.id)
            if chosen is None and rule.agency not in exclude:
                copies = tuple(c for c in rule.copies if c not in exclude)
                chosen = Decision(rule.agency, rule.id, why, copies, matched)
                if not explain:
                    return chosen
        if chosen is not None:
            return chosen
        if f.region:
            pemda = self.registry.regional_government(f.region)
            if pemda is not None and pemda.id not in exclude:
                return Decision(pemda.id, REGION_RULE, f"region {f.region}: {pemda.name}",
                                matched=matched)
        return Decision(None, TRIAGE_RULE, "no rule or region claims the complaint", matched=matched)
