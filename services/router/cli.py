"""`lapor routes check|explain`: the router's own operator command, registered with the
`lapor` CLI through the `lapor.commands` entry point (the CLI never imports the router)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from services.domain.registry import load_registry
from services.domain.words import normalise_words
from services.router.engine import Facts, Router
from services.router.rules import load_rules
from services.runtime.settings import Settings


def _routes(args: argparse.Namespace, settings: Settings) -> int:
    """Dry-run a routing decision and show which rules matched and why."""
    registry = load_registry(settings.agencies_file)
    router = Router(load_rules(registry, args.file or settings.routes_file), registry)
    if args.action == "check":
        print(f"{len(router.rules)} rules valid against {len(registry.agencies)} agencies")
        return 0
    region = args.region.replace(" ", "") if args.region else None
    facts = Facts(normalise_words(args.text), args.text, args.category, args.type, region, args.hint)
    decision = router.decide_facts(facts, explain=True)
    print(f"agency:  {decision.agency_id or '(triage)'}")
    print(f"rule:    {decision.rule_id}")
    print(f"why:     {decision.reason}")
    print(f"copies:  {', '.join(decision.copies) or '-'}")
    print(f"matched: {', '.join(decision.matched) or '-'} (by priority)")
    return 0


def register(sub: Any) -> None:
    r = sub.add_parser("routes", help="check the routing rules or explain a decision")
    r.add_argument("action", choices=["explain", "check"])
    r.add_argument("--text", default="", help="title and body of the complaint")
    r.add_argument("--category", default="other", help="category code (see docs)")
    r.add_argument("--type", default="complaint", help="complaint type")
    r.add_argument("--region", default=None, help="Kemendagri region code, e.g. 32.73")
    r.add_argument("--hint", default=None, help="agency_hint")
    r.add_argument("--file", type=Path, default=None, help="a rules file to use instead")
    r.set_defaults(handler=_routes)
