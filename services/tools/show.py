"""`lapor show ID`: a complaint's timeline in the terminal, as the operations page shows it
(asked of the ops_view worker's API: the CLI never imports a service)."""

from __future__ import annotations

import argparse
import json
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime
from typing import Any

from services.runtime.settings import Settings


def describe(e: dict[str, Any]) -> str:
    agency = e.get("agency_name") or e.get("agency_id") or ""
    kind = e["kind"]
    if kind == "accepted":
        return f"via {e['channel']} (category {e['category']})"
    if kind == "routed":
        if not e["agency_id"]:
            return f"to triage ({e['reason']})"
        role = "copy to" if e["role"] == "copy" else "to"
        return f"{role} {agency} (rule {e['rule_id']}, attempt {e['attempt']})"
    if kind == "status":
        by = agency or "admin/SLA monitor"
        target = f" -> {e['target_agency_id']}" if e.get("target_agency_id") else ""
        return f"{e['status']} by {by}{target}"
    if kind == "escalation":
        return (f"{e['escalation_kind']} level {e['level']} of {e['clock']} ({agency}) "
                f"-> {e['target']}, due {e['due_at']}")
    if kind == "dead_letter":
        return f"{e['reason']} on {e['source_topic']}"
    return json.dumps(e)


def render(t: dict[str, Any]) -> str:
    f = t["facts"]
    head = (f"{t['complaint_id']}  {f.get('channel', '-')} · privacy {f.get('privacy', '-')} · "
            f"{f.get('category', '-')} · region {f.get('region_code') or '-'}"
            + (f" · closed {t['closed_at']}" if t.get("closed_at") else ""))
    rows = [head]
    for e in t["events"]:
        at = datetime.fromisoformat(e["at"]).strftime("%Y-%m-%d %H:%M %z")
        rows.append(f"{at}  {e['kind']:12} {describe(e)}")
    return "\n".join(rows)


def _show(args: argparse.Namespace, settings: Settings) -> int:
    base = args.url or f"http://{settings.ops_host}:{settings.ops_port}"
    url = f"{base.rstrip('/')}/api/timeline/{urllib.parse.quote(args.id, safe='')}"
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            body = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        print(json.loads(exc.read()).get("error", exc.reason))
        return 2 if exc.code == 400 else 1
    except (urllib.error.URLError, OSError) as exc:
        print(f"the operations view at {base} does not answer ({exc}); is `lapor worker ops_view` running?")
        return 3
    print(json.dumps(body, indent=2) if args.json else render(body))
    return 0


def register(sub: Any) -> None:
    s = sub.add_parser("show", help="a complaint's timeline by tracking id (from the ops_view worker)")
    s.add_argument("id", help="tracking id, e.g. LPR-7K2QX9M4TD5W (case, spaces, dashes forgiven)")
    s.add_argument("--url", default=None, help="the operations view (default LAPOR_OPS_HOST:LAPOR_OPS_PORT)")
    s.add_argument("--json", action="store_true", help="JSON output")
    s.set_defaults(handler=_show)
