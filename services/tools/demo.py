"""The demo: embedded broker, topics, the workers, an accelerated ticker process, a complaint stream,
simulated agencies, and a live view of what happens. Ctrl-C stops everything cleanly.

Every part connects as its own principal, as in production: each worker as its service, the
complaint stream as the web and SMS channels, each simulated agency's statuses as that agency
(provisioned when it first receives a complaint) on its own status topic. The simulation's
readers of every agency topic and of the outputs run as the operator."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from schemas import Channel
from services.domain.complaint_id import new_key
from services.tools.generator import stream
from services.tools.signin_provider import DEMO_ACCOUNTS
from services.runtime.settings import Settings
from services.runtime.topics import (
    ACCEPTED, ESCALATIONS, REJECTED, ROUTED, SMS, agency_status_topic_name, notifications_topic_name,
)
from services.runtime.kafka_client import aiokafka_options
from services.tools.access import as_principal, provision
from services.tools.access_plan import agency_user, channel_user, service_user

SERVICES = ("intake", "router", "sla_monitor", "ops_view", "status_gate", "desk", "lacak", "disposition")
# Agencies whose complaints people work by hand in the desk: the simulated agencies leave
# them alone (the demo accounts `pln` and `bpjs` are their staff).
STAFFED_AGENCIES = ("pln", "bpjs-kesehatan")
WEEK_S = 7 * 86400
SMS_SHOWN_PER_KIND = 3  # SMS replies of each kind the simulated gateway prints (then it counts)


def _masked(number: str) -> str:
    """What the demo prints of a (simulated) sender's number, written +62 like intake's."""
    e164 = "+62" + number[1:] if number.startswith("0") else number
    return e164[:6] + "*" * max(0, len(e164) - 9) + e164[-3:]


def _spawn(argv: list[str], settings: Settings, log: Path, service: str) -> subprocess.Popen[bytes]:
    settings = as_principal(settings, service_user(settings, service))
    return subprocess.Popen([sys.executable, "-m", "services.tools.cli", *argv],
                            env=settings.environment(), stdout=open(log, "ab"),
                            stderr=subprocess.STDOUT, start_new_session=True)


class Simulation:
    def __init__(self, settings: Settings, seconds: float, rate: float):
        self.settings, self.seconds, self.rate = settings, seconds, rate
        self.speed = WEEK_S / seconds  # one calendar week of event time in the run
        self.start = datetime.now(UTC).astimezone()
        self.t0 = time.monotonic()
        self.counts: dict[str, Counter[str]] = {k: Counter() for k in
                                                ("in", "accepted", "rejected", "routed", "escalations",
                                                 "notifications")}
        self.sms_senders: dict[str, str] = {}  # the gateway's own record: message id -> number
        self.shown: Counter[str] = Counter()

    def now(self) -> datetime:
        return self.start + timedelta(seconds=(time.monotonic() - self.t0) * self.speed)

    async def producer(self, user: str) -> AIOKafkaProducer:
        producer = AIOKafkaProducer(**aiokafka_options(as_principal(self.settings, user)), acks="all")
        await producer.start()
        return producer

    async def publish(self) -> None:
        """The channels: the 1708 gateway sends raw SMS, the web portal (for every other
        channel here) submissions; each as its own principal."""
        web = await self.producer(channel_user(self.settings, "web"))
        gateway = await self.producer(channel_user(self.settings, "sms"))
        n = 0
        try:
            while time.monotonic() - self.t0 < self.seconds * 0.6:
                at = self.now()
                for rec in stream(seed=n, at=at, n=max(1, int(self.rate))):
                    if rec.topic == SMS:
                        sms = json.loads(rec.value)
                        self.sms_senders[sms["message_id"]] = sms["msisdn"]
                    await (gateway if rec.topic == SMS else web).send(
                        self.settings.topic(rec.topic), rec.value, key=rec.key,
                        timestamp_ms=int(at.timestamp() * 1000))
                    self.counts["in"][rec.topic] += 1
                n += 1
                await asyncio.sleep(1)
        finally:
            await web.stop()
            await gateway.stop()

    async def agencies(self) -> None:
        """Agencies acknowledge on time, late, never, or refuse (bukan wewenang); most of
        those that acknowledge send their response two days later."""
        consumer = AIOKafkaConsumer(**aiokafka_options(self.settings),  # as the operator
                                    group_id=f"{self.settings.topic_prefix}demo-agencies",
                                    auto_offset_reset="earliest", metadata_max_age_ms=2000)
        consumer.subscribe(pattern=rf"^{self.settings.topic_prefix.replace('.', '[.]')}agency[.].*[.]complaints[.]v1$")
        await consumer.start()
        pending: list[tuple[datetime, dict[str, object]]] = []
        speakers: dict[str, AIOKafkaProducer] = {}  # agency id -> a producer as that agency
        try:
            while True:
                batch = await consumer.getmany(timeout_ms=500)
                for records in batch.values():
                    for r in records:
                        msg = json.loads(r.value)
                        if msg["routing"]["role"] != "primary" or msg["agency_id"] in STAFFED_AGENCIES:
                            continue
                        rnd = random.Random(msg["event_id"])
                        routed = datetime.fromisoformat(msg["routing"]["routed_at"])
                        choice = rnd.random()
                        kind, delay = ("acknowledged", 1) if choice < 0.5 else ("acknowledged", 6) \
                            if choice < 0.7 else ("not_our_authority", 1) if choice < 0.85 else (None, 0)
                        if kind:
                            pending.append((routed + timedelta(days=delay), {
                                "event_id": f"demo-{msg['event_id']}", "complaint_id": msg["complaint_id"],
                                "status": kind, "agency_id": msg["agency_id"]}))
                        if kind == "acknowledged" and rnd.random() < 0.6:  # and answers later
                            pending.append((routed + timedelta(days=delay + 2), {
                                "event_id": f"demo-{msg['event_id']}-responded",
                                "complaint_id": msg["complaint_id"], "status": "responded",
                                "agency_id": msg["agency_id"]}))
                now = self.now()
                due = [p for p in pending if p[0] <= now]
                pending = [p for p in pending if p[0] > now]
                for at, status in due:
                    status["at"] = at.isoformat()
                    agency = str(status.pop("agency_id"))
                    if agency not in speakers:
                        await provision(self.settings, [agency])
                        speakers[agency] = await self.producer(agency_user(self.settings, agency))
                    await speakers[agency].send(
                        self.settings.topic(agency_status_topic_name(agency)),
                        json.dumps(status).encode(), key=str(status["complaint_id"]).encode(),
                        timestamp_ms=int(now.timestamp() * 1000))
        finally:
            await consumer.stop()
            for speaker in speakers.values():
                await speaker.stop()

    async def replies(self, channel: str) -> None:
        """A channel's side of its own replies topic (complaints.notifications.<channel>.v1),
        read as its principal: the web portal counts them; the 1708 gateway answers each SMS
        reply to the number in the notice, or to the one it received the message id from."""
        gateway = as_principal(self.settings, channel_user(self.settings, channel))
        consumer = AIOKafkaConsumer(self.settings.topic(notifications_topic_name(channel)),
                                    **aiokafka_options(gateway), auto_offset_reset="earliest",
                                    group_id=None)
        await consumer.start()
        try:
            while True:
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    for r in records:
                        notice = json.loads(r.value)
                        self.counts["notifications"][notice["kind"]] += 1
                        if notice["channel"] != "sms":
                            continue
                        number = notice.get("msisdn") or self.sms_senders.get(notice.get("submission_id", ""))
                        if number and self.shown[notice["kind"]] < SMS_SHOWN_PER_KIND:
                            self.shown[notice["kind"]] += 1
                            print(f"  [SMS 1708 -> {_masked(number)}] {notice['text']}", flush=True)
        finally:
            await consumer.stop()

    async def watch(self) -> None:
        topics = {ACCEPTED: "accepted", REJECTED: "rejected",
                  ROUTED: "routed", ESCALATIONS: "escalations"}
        consumer = AIOKafkaConsumer(*[self.settings.topic(t) for t in topics],
                                    **aiokafka_options(self.settings),
                                    auto_offset_reset="earliest", group_id=None)
        await consumer.start()
        try:
            while True:
                batch = await consumer.getmany(timeout_ms=500)
                for tp, records in batch.items():
                    kind = topics[tp.topic[len(self.settings.topic_prefix):]]
                    for r in records:
                        v = json.loads(r.value)
                        self.counts[kind][self._label(kind, v)] += 1
        finally:
            await consumer.stop()

    @staticmethod
    def _label(kind: str, v: dict[str, object]) -> str:
        if kind == "accepted":
            return str(v["channel"])
        if kind == "rejected":
            return str(v["reason"])
        if kind == "routed":
            return str(v["agency_id"] or "(triage)")
        return f"{v['kind']} L{v['level']} {v['clock']}"

    def line(self) -> str:
        c = self.counts
        return (f"[{time.monotonic() - self.t0:5.0f}s | event time {self.now():%a %d %b %H:%M}] "
                f"in {sum(c['in'].values())}  accepted {sum(c['accepted'].values())}  "
                f"rejected {sum(c['rejected'].values())}  routed {sum(c['routed'].values())}  "
                f"triaged {c['routed']['(triage)']}  escalations {sum(c['escalations'].values())}  "
                f"replies {sum(c['notifications'].values())}")

    def summary(self) -> str:
        rows = ["", "== Summary =="]
        for kind in ("accepted", "rejected", "routed", "escalations", "notifications"):
            rows.append(f"{kind}:")
            rows += [f"  {label:32} {n:6}" for label, n in self.counts[kind].most_common(12)]
        return "\n".join(rows)


def stopped_early(workers: dict[str, subprocess.Popen[bytes]], told: set[str], log_dir: Path) -> list[str]:
    """A line for each worker that exited since the last look (the demo does not restart it:
    a stopped stage is a fault to see, and its log says why)."""
    lines = []
    for name, proc in workers.items():
        if proc.poll() is not None and name not in told:
            told.add(name)
            lines.append(f"demo: the {name} worker stopped (exit code {proc.returncode}); "
                         f"see {log_dir / f'{name}.log'}")
    return lines


async def _run(sim: Simulation, workers: dict[str, subprocess.Popen[bytes]], log_dir: Path) -> set[str]:
    """The simulation until its time is up; the names of the workers that stopped early."""
    tasks = [asyncio.create_task(t) for t in (sim.publish(), sim.agencies(), sim.watch(),
                                              *(sim.replies(c.value) for c in Channel))]
    told: set[asyncio.Task[None]] = set()
    stopped: set[str] = set()
    try:
        while time.monotonic() - sim.t0 < sim.seconds:
            await asyncio.sleep(3)
            print(sim.line(), flush=True)
            for t in tasks:  # a part that stopped early: say so at once
                if t.done() and not t.cancelled() and t.exception() and t not in told:
                    told.add(t)
                    print(f"demo: a simulated part failed: {t.exception()!r}", flush=True)
            for line in stopped_early(workers, stopped, log_dir):
                print(line, flush=True)
        return stopped
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def complaint_id_key(settings: Settings, folder: Path) -> Settings:
    """The settings with a tracking-id key (intake keys complaint ids with it): the one
    configured, else the demo's own, made once in its folder (0600, never printed)."""
    if settings.complaint_id_key_file is not None:
        return settings
    path = folder / "complaint-id.key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(new_key() + "\n")
    return settings.model_copy(update={"complaint_id_key_file": path})


def run_demo(settings: Settings, seconds: float, rate: float, log_dir: Path) -> int:
    log_dir.mkdir(parents=True, exist_ok=True)
    settings = complaint_id_key(settings, log_dir)
    workers = {s: _spawn(["worker", s, "--web-port", str(settings.web_port + i)], settings,
                         log_dir / f"{s}.log", s) for i, s in enumerate(SERVICES)}
    sim = Simulation(settings, seconds, rate)
    # The ticker is a process of its own, as in production. It starts from the simulation's
    # event time at its launch and so runs a little behind it: ticks are watermarks, and a
    # tick behind the events only fires their moments a little later, never too early.
    workers["ticker"] = _spawn(["ticker", "--interval", "1", "--speed", str(sim.speed),
                                "--start", sim.now().isoformat()], settings, log_dir / "ticker.log",
                               "ticker")
    print(f"workers started (logs in {log_dir}); a week of event time in {seconds:.0f}s", flush=True)
    # Behind the TLS proxy the public URLs; without one, the sites' own loopback addresses.
    ops = settings.ops_public_url or f"http://{settings.ops_host}:{settings.ops_port}"
    lacak = settings.lacak_public_url or f"http://{settings.lacak_host}:{settings.lacak_port}"
    desk = settings.desk_public_url or f"http://{settings.desk_host}:{settings.desk_port}"
    print(f"operations page: {ops}/ (fills as the demo runs)", flush=True)
    print(f"public tracking (lacak): {lacak}/lacak?id=<tracking id>", flush=True)
    print(f"agency desk: {desk}/ (PLN and BPJS Kesehatan are worked here by hand; the other "
          "agencies are simulated)", flush=True)
    accounts = ", ".join(f"{a.username} / {a.password} ({', '.join(a.groups) or 'no role'})"
                         for a in DEMO_ACCOUNTS)
    print(f"sign in (desk and operations page) with: {accounts}", flush=True)
    stopped: set[str] = set()
    try:
        stopped = asyncio.run(_run(sim, workers, log_dir))
    except KeyboardInterrupt:
        print("\ninterrupted", flush=True)
    finally:
        for w in workers.values():
            if w.poll() is None:
                os.killpg(w.pid, signal.SIGTERM)
        for w in workers.values():
            try:
                w.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(w.pid, signal.SIGKILL)
        print(sim.summary(), flush=True)
    if stopped:
        print(f"demo: workers that stopped early: {', '.join(sorted(stopped))}", flush=True)
    return 1 if stopped else 0
