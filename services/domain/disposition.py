"""Which unit of the holding agency a complaint goes to by the agency's own rules, and why.
Pure: the disposition stage and `lapor units explain` ask it alike.

A rule matches when every criterion it names matches: one of its LAPOR! categories (the
main one, and the sub-category when the rule names one), one of its project categories, one
of its keywords in the complaint's title or body (whole words, case folded), one of its
region codes as a prefix of the complaint's region. The highest priority wins, then the
first in the agency's file. No rule matches: the agency's admin dispositions by hand."""

from __future__ import annotations

import re
from dataclasses import dataclass

from schemas import Category, DispositionRule, LaporCategory
from services.domain import lapor_categories
from services.domain.units import AgencyUnits


@dataclass(frozen=True)
class ComplaintFacts:
    """What the rules may look at (the complaint as its agency sees it)."""

    category: Category
    lapor_category: LaporCategory | None
    text: str  # title and body
    region_code: str | None


@dataclass(frozen=True)
class Disposition:
    unit_id: str
    unit_name: str
    rule_id: str
    explanation: str


def _words(text: str) -> str:
    return " " + " ".join(re.findall(r"\w+", text.casefold())) + " "


def _matches(rule: DispositionRule, facts: ComplaintFacts, words: str) -> bool:
    if rule.lapor_categories and not any(lapor_categories.matches(c, facts.lapor_category)
                                         for c in rule.lapor_categories):
        return False
    if rule.categories and facts.category not in rule.categories:
        return False
    if rule.keywords and not any(_words(k) in words for k in rule.keywords):
        return False
    if rule.regions:
        code = facts.region_code
        if code is None or not any(code == r or code.startswith(r + ".") for r in rule.regions):
            return False
    return True


def dispose(facts: ComplaintFacts, units: AgencyUnits) -> Disposition | None:
    """The unit the agency's rules give the complaint to, or None (its admin decides)."""
    words = _words(facts.text)
    ranked = sorted(enumerate(units.unit_set.rules), key=lambda ir: (-ir[1].priority, ir[0]))
    for _, rule in ranked:
        unit = units.active(rule.unit_id)
        if unit is not None and _matches(rule, facts, words):
            return Disposition(unit.unit_id, unit.name, rule.rule_id, rule.explanation)
    return None
