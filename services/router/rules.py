"""Routing rules as data: loading, validation with errors that name file, rule and problem."""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from schemas import Category, ComplaintType
from services.domain.registry import Registry, known_region
from services.domain.words import normalise_words


class RuleFileError(ValueError):
    """A routing rule file is invalid; the message names the file, the rule and the problem."""


class _RuleSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    agency: str
    priority: int = 0
    categories: list[Category] = []
    keywords: list[str] = []
    patterns: list[str] = []
    regions: list[str] = []
    types: list[ComplaintType] = []
    copies: list[str] = []


@dataclass(frozen=True)
class Rule:
    id: str
    agency: str
    priority: int
    order: int
    categories: frozenset[Category]
    keywords: tuple[str, ...]
    patterns: tuple[re.Pattern[str], ...]
    regions: tuple[str, ...]
    types: frozenset[ComplaintType]
    copies: tuple[str, ...]

    @property
    def has_topic(self) -> bool:
        return bool(self.categories or self.keywords or self.patterns)


def _compile(spec: _RuleSpec, order: int, registry: Registry, where: str) -> Rule:
    def fail(problem: str) -> RuleFileError:
        return RuleFileError(f"{where}: rule '{spec.id}': {problem}")

    for agency in [spec.agency, *spec.copies]:
        if agency not in registry:
            raise fail(f"unknown agency '{agency}'")
    if spec.agency in spec.copies:
        raise fail("the primary agency is also listed as a copy")
    if not (spec.categories or spec.keywords or spec.patterns or spec.regions or spec.types):
        raise fail("has no condition, so it would claim every complaint; give at least one")
    keywords = tuple(normalise_words(k).strip() for k in spec.keywords)
    if any(not k for k in keywords):
        raise fail("a keyword is empty after normalisation, so it can never match")
    patterns = []
    for text in spec.patterns:
        try:
            patterns.append(re.compile(text, re.IGNORECASE))
        except re.error as exc:
            raise fail(f"malformed pattern {text!r}: {exc}") from None
    for region in spec.regions:
        if not re.fullmatch(r"\d{2}(\.\d{2}){0,3}", region) or not known_region(region):
            raise fail(f"region '{region}' is not a known Kemendagri region code, so it can never match")
    return Rule(spec.id, spec.agency, spec.priority, order, frozenset(spec.categories), keywords,
                tuple(patterns), tuple(spec.regions), frozenset(spec.types), tuple(spec.copies))


def parse_rules(text: str, registry: Registry, where: str) -> list[Rule]:
    try:
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RuleFileError(f"{where}: not valid YAML: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
        raise RuleFileError(f"{where}: expected a mapping with a list under 'rules'")
    rules: list[Rule] = []
    seen: set[str] = set()
    for order, raw in enumerate(data["rules"]):
        rule_id = raw.get("id", f"#{order + 1}") if isinstance(raw, dict) else f"#{order + 1}"
        try:
            spec = _RuleSpec.model_validate(raw)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise RuleFileError(f"{where}: rule '{rule_id}': {problems}") from None
        if spec.id in seen:
            raise RuleFileError(f"{where}: rule '{spec.id}': duplicate rule id")
        seen.add(spec.id)
        rules.append(_compile(spec, order, registry, where))
    return rules


def load_rules(registry: Registry, path: Path | None = None) -> list[Rule]:
    if path is None:
        text = resources.files("services.router").joinpath("data/routes.yaml").read_text("utf-8")
        return parse_rules(text, registry, "routes.yaml (shipped)")
    return parse_rules(path.read_text(encoding="utf-8"), registry, str(path))
