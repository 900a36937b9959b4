"""What the operations page and `lapor show` ask of the ops view's stores. Pure: read-only
mappings in (the faust tables' data, or dicts in tests), plain JSON-ready data out."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from services.domain.calendar import DEFAULT_TZ, WorkingCalendar, zone
# A complaint's timeline in order (`lapor show`, the page's search): the pure code it shares with
# lacak's progress lives in the domain.
from services.domain.tracking import TimelineError as TimelineError, timeline as timeline

Store = Mapping[str, Any]
PERIODS = ("day", "week", "month")


def _by_prefix(store: Store, prefix: str) -> list[tuple[str, Any]]:
    return [(k, v) for k, v in store.items() if isinstance(k, str) and k.startswith(prefix)]


def now(board: Store) -> datetime | None:
    """Event time: the latest tick any partition has seen (never the machine's clock)."""
    stamps = [v["ts"] for _, v in _by_prefix(board, "now|")]
    return datetime.fromtimestamp(max(stamps), UTC) if stamps else None


def period_of(day: date, period: str) -> str:
    """The day's period label: the day, its ISO week (Monday first) or its month."""
    if period == "day":
        return day.isoformat()
    if period == "week":
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    if period == "month":
        return day.strftime("%Y-%m")
    raise ValueError(f"period must be one of {PERIODS}")


def compliance(board: Store, period: str = "day") -> list[dict[str, Any]]:
    """One row per agency and period: every partition's report of every day summed once.
    Days are the agency's local days (the SLA monitor counts them in its time zone), so
    weeks and months are too. Breaches by clock are level-1 breaches (the SLA's counts);
    by level, from the escalations seen. `open_overdue_now`: the latest report per partition."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}

    def row(agency: str, label: str) -> dict[str, Any]:
        return rows.setdefault((agency, label), {
            "agency_id": agency, "period": label, "received": 0, "on_time": 0, "late": 0,
            "breaches_by_clock": defaultdict(int), "breaches_by_level": defaultdict(int)})

    for key, entry in _by_prefix(board, "compliance|"):
        _, agency, day = key.split("|")
        r = row(agency, period_of(date.fromisoformat(day), period))
        for report in entry["reports"].values():
            r["received"] += report["received"]
            r["on_time"] += report["on_time"]
            r["late"] += report["late"]
            for clock, n in report["breaches"].items():
                r["breaches_by_clock"][clock] += n
    for key, counts in _by_prefix(board, "breaches|"):
        _, _p, agency, day = key.split("|")
        r = row(agency, period_of(date.fromisoformat(day), period))
        for slot, n in counts.items():
            r["breaches_by_level"][slot.split("|")[1]] += n
    overdue = {key.split("|")[1]: sum(v[1] for v in latest.values())
               for key, latest in _by_prefix(board, "overdue|")}
    out = []
    for r in rows.values():
        answered = r["on_time"] + r["late"]
        out.append({**r, "breaches_by_clock": dict(r["breaches_by_clock"]),
                    "breaches_by_level": dict(r["breaches_by_level"]),
                    "on_time_share": round(r["on_time"] / answered, 4) if answered else None,
                    "open_overdue_now": overdue.get(r["agency_id"], 0)})
    return sorted(out, key=lambda r: (r["period"], r["agency_id"]), reverse=True)


def late_units(board: Store, period: str = "day") -> list[dict[str, Any]]:
    """Units late on their internal deadlines (#34), per agency and period, from their shares
    of sla.compliance.v1: the units with unit_response breaches in the period, or complaints
    open past their deadline now (the latest report per partition). `unit_name`: the name
    the judge last gave it on a `disposed` status (None when none was read)."""
    rows: dict[tuple[str, str, str], dict[str, Any]] = {}
    for key, entry in _by_prefix(board, "unitcompliance|"):
        _, agency, unit, day = key.split("|")
        r = rows.setdefault((agency, unit, period_of(date.fromisoformat(day), period)), {
            "agency_id": agency, "unit_id": unit, "period": period_of(date.fromisoformat(day), period),
            "received": 0, "breaches": 0})
        for report in entry["reports"].values():
            r["received"] += report["received"]
            r["breaches"] += report["breaches"].get("unit_response", 0)
    overdue = {tuple(key.split("|")[1:3]): sum(v[1] for v in latest.values())
               for key, latest in _by_prefix(board, "unitoverdue|")}
    names: dict[tuple[str, str], tuple[str, str]] = {}
    for key, known in _by_prefix(board, "unitname|"):
        _, _p, agency, unit = key.split("|")
        if (agency, unit) not in names or names[(agency, unit)][0] < known["at"]:
            names[(agency, unit)] = (known["at"], known["name"])
    out = []
    for (agency, unit, _label), r in rows.items():
        now_overdue = overdue.get((agency, unit), 0)
        if r["breaches"] or now_overdue:
            out.append({**r, "open_overdue_now": now_overdue,
                        "unit_name": names[(agency, unit)][1] if (agency, unit) in names else None})
    return sorted(out, key=lambda r: (r["period"], r["agency_id"], r["unit_id"]), reverse=True)


def escalations(board: Store, level: int | None = None, agency: str | None = None,
                limit: int = 100) -> list[dict[str, Any]]:
    """The latest escalations of every partition, newest first (by fire time, then as_of)."""
    items = [item for _, recent in _by_prefix(board, "esc|") for item in recent
             if (level is None or item["level"] == level) and (agency is None or item["agency_id"] == agency)]
    items.sort(key=lambda i: (datetime.fromisoformat(i["fire_at"]), datetime.fromisoformat(i["as_of"]),
                              i["escalation_id"]), reverse=True)
    return items[:limit]


def triage_queue(board: Store, timelines: Store, calendar: WorkingCalendar) -> list[dict[str, Any]]:
    """Complaints waiting for the national admin, oldest first: their age in working days
    (WIB) by event time, and every agency that held and refused them (ping-pong)."""
    at = now(board)
    out = []
    for _, queue in _by_prefix(board, "triage|"):
        for cid, item in queue.items():
            since = datetime.fromisoformat(item["since"])
            age = calendar.working_days_between(since.astimezone(zone(DEFAULT_TZ)).date(),
                                                at.astimezone(zone(DEFAULT_TZ)).date()) if at else 0
            events = (timelines.get(cid) or {}).get("events", [])
            held = [e[2]["agency_id"] for e in events if e[1] == "routed" and e[2]["role"] == "primary"
                    and e[2]["agency_id"]]
            out.append({"complaint_id": cid, "since": item["since"], "age_working_days": age,
                        "reason": item["reason"], "attempt": item["attempt"], "held_by": held})
    return sorted(out, key=lambda i: (datetime.fromisoformat(i["since"]), i["complaint_id"]))


def dead_letters(board: Store, limit: int = 10) -> dict[str, Any]:
    counts: dict[tuple[str, str], int] = defaultdict(int)
    latest = []
    for _, entry in _by_prefix(board, "dead|"):
        for slot, n in entry["counts"].items():
            reason, source = slot.split("|", 1)
            counts[(reason, source)] += n
        latest += entry["latest"]
    latest.sort(key=lambda i: (datetime.fromisoformat(i["received_at"]), i["event_id"]), reverse=True)
    return {"counts": [{"reason": r, "source_topic": s, "count": n}
                       for (r, s), n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))],
            "latest": latest[:limit]}


# A delivery report without the fields added later (gave_up, skipped, disabled) had none.
BRIDGE_DEFAULTS = {"gave_up": 0, "skipped": 0, "disabled": False}


def bridge(board: Store) -> list[dict[str, Any]]:
    """How delivery to each agency's own system stands: the disabled endpoints (410 Gone)
    first, then the longest-waiting. `undelivered`: the agency's complaints the bridge could
    not put into its system and that no later delivery took (bridge.undelivered.v1), by
    reason too. An agency with such complaints and no delivery report has a row all the same."""
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for key, entry in _by_prefix(board, "undelivered|"):
        counts[key.split("|")[1]][entry["reason"]] += 1
    rows = {v["agency_id"]: {**BRIDGE_DEFAULTS, **v} for _, v in _by_prefix(board, "bridge|")}
    for agency in counts.keys() - rows.keys():
        rows[agency] = {"agency_id": agency, "mode": None, "as_of": None, "started_at": None, "pending": 0,
                        "oldest_undelivered_s": 0.0, "retrying": False, "delivered": 0, "refused": 0,
                        "failed_tries": 0, "statuses_in": 0, **BRIDGE_DEFAULTS}
    out = [{**r, "undelivered": sum(counts[a].values()) if a in counts else 0,
            "undelivered_by_reason": dict(counts[a]) if a in counts else {}} for a, r in rows.items()]
    return sorted(out, key=lambda r: (not r["disabled"], -r["oldest_undelivered_s"], -r["pending"],
                                      -r["undelivered"], r["agency_id"]))
