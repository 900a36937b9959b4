"""Keyword classification of type, category and SLA tier; the rules are data (YAML).

A channel's explicit value always wins over an inferred one; each decision is recorded with
its source and the rule that made it.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from schemas import Category, ComplaintType, SlaTier
from schemas.events import FieldDecision
from services.domain.words import normalise_words

@dataclass(frozen=True)
class Decision:
    value: str
    decided: FieldDecision


@dataclass(frozen=True)
class Rules:
    categories: dict[Category, dict[str, int]]  # keyword -> weight
    complaint_markers: tuple[str, ...]
    aspiration: tuple[str, ...]
    information_request: tuple[str, ...]
    dispute: tuple[str, ...]


def _keywords(values: object, where: str) -> tuple[str, ...]:
    if not isinstance(values, list) or not all(isinstance(v, str) and v.strip() for v in values):
        raise ValueError(f"{where}: expected a list of non-empty keywords")
    return tuple(normalise_words(v).strip() for v in values)


def _weighted(values: object, where: str) -> dict[str, int]:
    """Category keywords: 'kw' weighs its number of words, {'kw': n} weighs n."""
    if not isinstance(values, list):
        raise ValueError(f"{where}: expected a list of keywords")
    out: dict[str, int] = {}
    for value in values:
        if isinstance(value, dict) and len(value) == 1:
            (kw, weight), = value.items()
            if not isinstance(weight, int) or weight < 1:
                raise ValueError(f"{where}: weight of {kw!r} must be a positive whole number")
        else:
            kw, weight = value, 0
        (norm,) = _keywords([kw], where)
        out[norm] = weight or len(norm.split())
    return out


def load_rules(path: Path | None = None) -> Rules:
    if path is None:
        text = resources.files("services.intake").joinpath("data/classification.yaml").read_text("utf-8")
        where = "classification.yaml"
    else:
        text, where = path.read_text(encoding="utf-8"), str(path)
    data = yaml.safe_load(text)
    try:
        categories = {Category(code): _weighted(kws, f"{where}: categories.{code}")
                      for code, kws in data["categories"].items()}
        types, tiers = data["types"], data["sla_tiers"]
        return Rules(
            categories=categories,
            complaint_markers=_keywords(types["complaint_markers"], f"{where}: types"),
            aspiration=_keywords(types["aspiration"], f"{where}: types"),
            information_request=_keywords(types["information_request"], f"{where}: types"),
            dispute=_keywords(tiers["dispute_14d"], f"{where}: sla_tiers"),
        )
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{where}: missing or malformed section {exc}") from None


def _first_match(words: str, keywords: tuple[str, ...]) -> str | None:
    return next((kw for kw in keywords if f" {kw} " in words), None)


class Classifier:
    def __init__(self, rules: Rules):
        self.rules = rules
        # Which categories each keyword belongs to: a text is scored against the few
        # categories it names instead of every keyword of every category.
        self._categories_of: dict[str, list[Category]] = {}
        for code, keywords in rules.categories.items():
            for kw in keywords:
                self._categories_of.setdefault(kw, []).append(code)
        self._single = {kw for kw in self._categories_of if " " not in kw}
        self._phrases = [kw for kw in self._categories_of if " " in kw]

    def category(self, text: str, given: Category | None) -> Decision:
        if given is not None:
            return Decision(given.value, FieldDecision(source="channel"))
        words = normalise_words(text)
        present = self._single.intersection(words.split())
        present.update(kw for kw in self._phrases if f" {kw} " in words)
        named = {code for kw in present for code in self._categories_of[kw]}
        best: tuple[int, Category, str] | None = None
        for code, keywords in self.rules.categories.items():  # file order breaks ties
            if code not in named:
                continue
            hits = [kw for kw in keywords if kw in present]
            score = sum(keywords[kw] for kw in hits)
            if best is None or score > best[0]:
                best = (score, code, max(hits, key=keywords.__getitem__))
        if best is None:
            return Decision(Category.other.value, FieldDecision(source="default", rule="category.none"))
        return Decision(best[1].value, FieldDecision(source="inferred",
                                                     rule=f"category.{best[1].value}:{best[2]}"))

    def type(self, text: str, given: ComplaintType | None) -> Decision:
        if given is not None:
            return Decision(given.value, FieldDecision(source="channel"))
        words = normalise_words(text)
        marker = _first_match(words, self.rules.complaint_markers)
        if marker:
            return Decision(ComplaintType.complaint.value,
                            FieldDecision(source="inferred", rule=f"type.complaint:{marker}"))
        for kind, keywords in ((ComplaintType.aspiration, self.rules.aspiration),
                               (ComplaintType.information_request, self.rules.information_request)):
            hit = _first_match(words, keywords)
            if hit:
                return Decision(kind.value, FieldDecision(source="inferred", rule=f"type.{kind.value}:{hit}"))
        if "?" in text:
            return Decision(ComplaintType.information_request.value,
                            FieldDecision(source="inferred", rule="type.information_request:?"))
        return Decision(ComplaintType.complaint.value, FieldDecision(source="default", rule="type.default"))

    def sla_tier(self, text: str, field_inspection: bool | None) -> Decision:
        if field_inspection:
            return Decision(SlaTier.field_60d.value,
                            FieldDecision(source="channel", rule="sla_tier.field_inspection"))
        hit = _first_match(normalise_words(text), self.rules.dispute)
        if hit:
            return Decision(SlaTier.dispute_14d.value,
                            FieldDecision(source="inferred", rule=f"sla_tier.dispute_14d:{hit}"))
        return Decision(SlaTier.standard_5d.value,
                        FieldDecision(source="default", rule="sla_tier.standard_5d"))
