"""`lapor bridge check|redeliver`: the bridge's operator commands, registered with the `lapor`
CLI through the `lapor.commands` entry point (the CLI never imports the bridge).

- `check AGENCY`: the agency's configuration is valid and its endpoint answers: a signed
  ping for a webhook (the receiver verifies it like a delivery), GET services.json for
  Open311 (and every configured service_code is among its services); then a signed ping to
  each of its units' own endpoints (the bridge file's `units:`), with the unit's keys.
- `redeliver AGENCY --since TIME`: the agency's complaints written since TIME are delivered
  again, with their original idempotency keys (a webhook receiver drops what it has); for an
  Open311 agency, those without a service request yet (refused before, say) are filed. One
  that goes in now loses its "not in the agency's system" mark on the desk.
- `skip AGENCY COMPLAINT_ID`: the bridge stops trying that complaint (one an endpoint will
  never take, blocking the agency's lane): dead-lettered `bridge_skipped`, shown on the
  agency's desk for its staff to work there. Kept: it is skipped if it comes again.
- `enable AGENCY`: an endpoint that answered 410 Gone (disabled, its complaints held) is
  tried again, once the agency says it is back.
Skip and enable are commands on bridge.control.v1: every bridge worker follows it, so the
one holding the agency's lane acts, at once, or after a restart.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import structlog
from aiokafka import AIOKafkaProducer
from pydantic import ValidationError

from schemas.bridge import BridgeCommand, BridgeUndelivered, WebhookPing
from services.bridge.app import bridge_config, load_memory
from services.bridge.config import BridgeConfig, Open311Agency, Target, WebhookAgency
from services.bridge.delivery import Verdict, verdict
from services.bridge.http import call, client_session
from services.bridge.metrics import BridgeMetrics
from services.bridge.outbound import NotSettled, Outbound
from services.bridge.signing import signed_headers
from services.domain.registry import load_registry
from services.runtime.kafka_client import aiokafka_options
from services.runtime.lane_runtime import Outgoing
from services.runtime.settings import Settings
from services.runtime.stage import Record
from services.runtime.topic_read import TopicRecord, read_since, read_to_end
from services.runtime.topics import BRIDGE_CONTROL, BRIDGE_UNDELIVERED, agency_topic_name

REDELIVER_TRIES = 3


async def check(config: BridgeConfig, agency_id: str) -> tuple[bool, str]:
    """The agency's own endpoint, then each of its units' (a line each): ready when all are."""
    agency = config.agency(agency_id)
    async with client_session() as session:
        if isinstance(agency, WebhookAgency):
            results = [await _ping(session, config.webhook_target(agency_id))]
        else:
            results = [await _check_open311(session, config, agency_id, agency, time.monotonic())]
        for unit in config.unit_targets(agency_id):
            results.append(await _ping(session, unit))
    return all(ok for ok, _ in results), "\n".join(line for _, line in results)


async def _ping(session: Any, target: Target) -> tuple[bool, str]:
    """A signed ping, with the target's own keys (a unit's endpoint verifies with its own)."""
    started = time.monotonic()
    ping = WebhookPing(agency_id=target.agency_id, sent_at=datetime.now(UTC)).to_bytes()
    headers = signed_headers(target.keys, target.secret, int(time.time()), ping,
                             f"ping-{int(time.time())}", event="ping")
    endpoint = target.settings
    answer = await call(session, "POST", endpoint.endpoint, endpoint.timeout_s, data=ping,
                        headers=headers)
    took = f"{(time.monotonic() - started) * 1000:.0f} ms"
    if answer.status is not None and verdict(answer.status) is Verdict.delivered:
        return True, f"{target.name}: webhook {endpoint.endpoint} took a signed ping ({answer.status}, {took})"
    return False, (f"{target.name}: webhook {endpoint.endpoint} answered "
                   f"{answer.status or answer.error}: {answer.text[:300]}")


async def _check_open311(session: Any, config: BridgeConfig, agency_id: str, agency: Open311Agency,
                         started: float) -> tuple[bool, str]:
    params = {"jurisdiction_id": agency.jurisdiction_id} if agency.jurisdiction_id else {}
    url = agency.endpoint.rstrip("/") + "/services.json"
    answer = await call(session, "GET", url, agency.timeout_s, params=params)
    took = f"{(time.monotonic() - started) * 1000:.0f} ms"
    if answer.status != 200:
        return False, f"{agency_id}: GET {url} answered {answer.status or answer.error}"
    try:
        offered = {str(s["service_code"]) for s in answer.json()}
    except (ValueError, TypeError, KeyError):
        return False, f"{agency_id}: {url} is not a GeoReport v2 service list"
    missing = sorted(set(agency.service_codes.values()) - offered)
    if missing:
        return False, f"{agency_id}: service codes {missing} are not among {url}'s services"
    return True, (f"{agency_id}: Open311 {url} answered ({took}); all "
                  f"{len(set(agency.service_codes.values()))} service codes offered")


def standing_marks(records: Iterable[TopicRecord]) -> dict[str, str]:
    """bridge.undelivered.v1 as it stands: each key's latest mark (key -> the event id it
    names); a tombstone ended it, and a record that is not a mark is passed over."""
    standing: dict[str, str] = {}
    for r in records:
        key = r.key.decode("utf-8", "replace") if r.key else ""
        if r.value is None:
            standing.pop(key, None)
            continue
        try:
            standing[key] = BridgeUndelivered.model_validate_json(r.value).event_id
        except ValidationError:
            continue
    return standing


async def redeliver(settings: Settings, config: BridgeConfig, agency_id: str,
                    since: datetime) -> dict[str, int]:
    config.agency(agency_id)
    records = await read_since(settings, agency_topic_name(agency_id), int(since.timestamp() * 1000))
    memory = await load_memory(settings, config)
    standing = standing_marks(await read_to_end(settings, BRIDGE_UNDELIVERED))
    states = memory.states
    counts = {"read": len(records), "settled": 0, "not_settled": 0}
    producer = AIOKafkaProducer(**aiokafka_options(settings), acks="all")
    await producer.start()
    try:
        async with client_session() as session:
            async def send(items: Sequence[Outgoing]) -> None:  # an Open311 intent, at once
                for o in items:
                    await producer.send_and_wait(settings.topic(o.topic), o.value, key=o.key)

            outbound = Outbound(config, session, BridgeMetrics(config.agencies), states,
                                structlog.get_logger(), max_tries=REDELIVER_TRIES,
                                gives_up=False, send=send, clears_undelivered=True,
                                control=memory)  # a skip holds for a redelivery too
            for r in sorted(records, key=lambda r: (r.timestamp_ms, r.partition, r.offset)):
                record = Record(r.topic, r.partition, r.offset, r.timestamp_ms / 1000, r.key, r.value)
                try:
                    outputs = await outbound.deliver(agency_id, record)
                except NotSettled:
                    counts["not_settled"] += 1
                    continue
                for o in outputs:
                    await producer.send_and_wait(settings.topic(o.topic), o.value, key=o.key)
                counts["settled"] += 1
            for o in outbound.ended_marks(standing):
                await producer.send_and_wait(settings.topic(o.topic), o.value, key=o.key)
    finally:
        await producer.stop()
    return counts


async def command(settings: Settings, command: BridgeCommand) -> None:
    """Write an operator's command for every bridge worker (acks from all replicas)."""
    key = command.agency_id if command.complaint_id is None else f"{command.agency_id}|{command.complaint_id}"
    producer = AIOKafkaProducer(**aiokafka_options(settings), acks="all")
    try:
        await producer.start()
        await producer.send_and_wait(settings.topic(BRIDGE_CONTROL), command.to_bytes(), key=key.encode())
    finally:
        await producer.stop()


def _command(args: argparse.Namespace, settings: Settings) -> int:
    # A registered agency, or a clear error. Not the bridge file: an operator's machine has
    # no agency's secret, and needs none to give a command.
    if args.agency not in load_registry(settings.agencies_file).ids():
        raise ValueError(f"{args.agency}: not a registered agency")
    if args.action == "skip" and not args.complaint:
        raise ValueError("skip needs the complaint id: lapor bridge skip AGENCY COMPLAINT_ID")
    issued = BridgeCommand(action=args.action, agency_id=args.agency,
                           complaint_id=args.complaint if args.action == "skip" else None,
                           at=datetime.now(UTC), by=settings.kafka_user or getpass.getuser(),
                           note=args.note)
    asyncio.run(command(settings, issued))
    if args.action == "skip":
        print(f"{args.agency}: complaint {args.complaint} will be skipped by the bridge (dead-"
              "lettered bridge_skipped; its agency's desk shows it for its staff to work there)")
    else:
        print(f"{args.agency}: the endpoint is enabled again; held complaints are tried now")
    return 0


def _bridge(args: argparse.Namespace, settings: Settings) -> int:
    if args.complaint is not None and args.action != "skip":
        raise ValueError(f"{args.action} takes no complaint id (only skip does)")
    if args.action in ("skip", "enable"):
        return _command(args, settings)
    config = bridge_config(settings)
    if args.action == "check":
        ok, message = asyncio.run(check(config, args.agency))
        print(message)
        return 0 if ok else 1
    if args.since is None:
        raise ValueError("redeliver needs --since TIME (e.g. 2026-12-01T08:00:00+07:00)")
    since = datetime.fromisoformat(args.since)
    since = since if since.tzinfo else since.replace(tzinfo=UTC)
    counts = asyncio.run(redeliver(settings, config, args.agency, since))
    print(f"{args.agency}: {counts['read']} records since {since.isoformat()}, "
          f"{counts['settled']} delivered or dead-lettered, {counts['not_settled']} still failing "
          "(the bridge keeps trying those)")
    return 0 if counts["not_settled"] == 0 else 1


def register(sub: Any) -> None:
    b = sub.add_parser("bridge", help="check an agency's bridge endpoint, deliver again, skip a "
                       "complaint, enable an endpoint again")
    b.add_argument("action", choices=["check", "redeliver", "skip", "enable"])
    b.add_argument("agency", help="agency id, as in LAPOR_BRIDGE_FILE")
    b.add_argument("complaint", nargs="?", default=None, help="skip: the complaint id")
    b.add_argument("--note", default=None, help="skip, enable: why (kept with the command)")
    b.add_argument("--since", default=None, help="redeliver: complaints written since this "
                   "ISO time (UTC unless an offset is given)")
    b.set_defaults(handler=_bridge)
