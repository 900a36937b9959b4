"""Operator sub-commands beyond broker/topics/schemas (registered by the main CLI)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from schemas import Channel
from services.runtime.settings import Settings


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from services.tools import broker
    from services.tools.access import provision
    from services.tools.broker_security import admin_settings

    from services.tools import signin_provider as provider
    from services.tools.demo import STAFFED_AGENCIES, run_demo
    from services.tools.demo_proxy import demo_proxy

    # The embedded broker (as its operator), unless a cluster is configured through
    # LAPOR_BOOTSTRAP_SERVERS (with the operator's LAPOR_KAFKA_* credentials).
    embedded = "LAPOR_BOOTSTRAP_SERVERS" not in os.environ
    if embedded:
        bootstrap = broker.start(settings)
        settings = admin_settings(settings.model_copy(update={"bootstrap_servers": bootstrap}))
    # Each demo run gets its own topic prefix, so runs never mix and every run starts clean;
    # and its own principals (services, channels, national admin; agencies as they appear).
    settings = settings.model_copy(update={"topic_prefix": f"demo{int(time.time())}."})
    report = asyncio.run(provision(settings, list(STAFFED_AGENCIES)))
    print(f"broker at {settings.bootstrap_servers}; {report.summary()}", flush=True)
    # Staff sign in with the development provider (Keycloak, its demo realm and accounts).
    started = provider.running_provider(settings) is None
    signin = provider.start(settings, provider.LOOPBACK_REDIRECTS)
    settings = settings.model_copy(update=provider.client_settings(signin, Path(".lapor/demo/signin")))
    # Each site its own session key, as a deployment has them: the desk's cannot make the
    # operations page's sessions.
    settings = settings.model_copy(update={
        f"{site}_session_key_file": provider.client_settings(
            signin, Path(f".lapor/demo/signin-{site}"))["staff_session_key_file"]
        for site in ("desk", "ops")})
    print(f"sign-in provider at {signin.issuer}", flush=True)
    try:
        # The sites behind the TLS proxy (Debian's nginx), as deployed: https by name.
        with demo_proxy(settings, Path(".lapor/demo/proxy-ca")) as proxy:
            print(f"TLS proxy (nginx) on 127.0.0.1:{proxy.port}; its certificate is from the CA "
                  f"{proxy.ca} (trust it, or accept the browser's warning)", flush=True)
            return run_demo(proxy.settings, args.seconds, args.rate, Path(".lapor/demo"))
    finally:
        if started and not args.keep_broker:
            provider.stop(settings)
            print("sign-in provider stopped")
        if embedded and not args.keep_broker:
            broker.stop(settings)
            print("broker stopped")


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    """Run one service as a worker (scale out by starting more of them): a faust worker, or
    a stage's own runner (the plain batched consumer, the bridge's lanes), which has `run`."""
    from services.runtime.faust_runtime import run_worker

    if args.web_port is not None:
        settings = settings.model_copy(update={"web_port": args.web_port})
    create_app = service_entry_points()[args.service].load()
    app = create_app(settings)
    run = getattr(app, "run", None)
    if callable(run):
        run()
    else:
        run_worker(app, settings)
    return 0


def service_entry_points() -> dict[str, Any]:
    """The services, found through their entry points (the tools never import a service)."""
    return {ep.name: ep for ep in entry_points(group="lapor.services")}


def _load_json(args: argparse.Namespace) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(Path(args.file).read_text()) if args.file else {}
    for pair in args.set or []:
        name, _, value = pair.partition("=")
        data[name] = value
    return data


def _submit(args: argparse.Namespace, settings: Settings) -> int:
    from services.tools.operator import submit

    data = _load_json(args)
    if args.body is not None:
        data["body"] = args.body
    sub = asyncio.run(submit(settings, data))
    print(f"submitted {sub.submission_id} on channel {sub.channel.value}")
    return 0


def _status(args: argparse.Namespace, settings: Settings) -> int:
    from services.tools.operator import status

    data = _load_json(args)
    data.update({k: v for k, v in (("complaint_id", args.complaint_id), ("status", args.status),
                                   ("agency_id", args.agency), ("target_agency_id", args.target))
                 if v is not None})
    event, topic = asyncio.run(status(settings, data, args.channel))
    print(f"status {event.status.value} for {event.complaint_id} sent to {settings.topic(topic)} "
          f"({event.event_id})")
    return 0


def _tail(args: argparse.Namespace, settings: Settings) -> int:
    from services.tools.operator import tail

    asyncio.run(tail(settings, args.topic, args.follow, args.limit))
    return 0


def _replay(args: argparse.Namespace, settings: Settings) -> int:
    from services.tools.operator import replay

    print(f"replayed {asyncio.run(replay(settings, Path(args.file)))} records")
    return 0


def register(sub: Any) -> None:
    d = sub.add_parser("demo", help="run the whole pipeline on the embedded broker")
    d.add_argument("--seconds", type=float, default=90.0, help="length of the run (a week of event time)")
    d.add_argument("--rate", type=float, default=5.0, help="complaints per second")
    d.add_argument("--keep-broker", action="store_true",
                   help="leave the embedded broker and the sign-in provider running")
    d.set_defaults(handler=_demo)

    sb = sub.add_parser("submit", help="submit a complaint (complaints.submitted.v1)")
    sb.add_argument("--body", default=None, help="complaint text")
    sb.add_argument("--file", default=None, help="a JSON file with the submission's fields")
    sb.add_argument("--set", action="append", metavar="FIELD=VALUE", help="set a text field")
    sb.set_defaults(handler=_submit)

    st = sub.add_parser("status", help="send an agency's status (to agency-status.<agency>.v1, as "
                        "that agency's principal) or the national admin's `assigned`")
    st.add_argument("complaint_id", nargs="?")
    st.add_argument("status", nargs="?", help="acknowledged, responded, not_our_authority, …")
    st.add_argument("--agency", default=None, help="the agency sending it")
    st.add_argument("--target", default=None, help="target_agency_id (re-route, assigned)")
    st.add_argument("--channel", default=None, choices=[c.value for c in Channel],
                    help="a reporter's status (reporter_replied), sent as that channel's principal")
    st.add_argument("--file", default=None, help="a JSON file with the event's fields")
    st.add_argument("--set", action="append", metavar="FIELD=VALUE", help="set a text field")
    st.set_defaults(handler=_status)

    tl = sub.add_parser("tail", help="print a topic, one JSON line per record")
    tl.add_argument("topic", help="contract topic name, e.g. sla.escalations.v1")
    tl.add_argument("-f", "--follow", action="store_true", help="keep waiting for new records")
    tl.add_argument("-n", "--limit", type=int, default=None, help="stop after this many")
    tl.set_defaults(handler=_tail)

    rp = sub.add_parser("replay", help="publish a JSONL log ({topic, key?, value} per line)")
    rp.add_argument("file")
    rp.set_defaults(handler=_replay)

    w = sub.add_parser("worker", help="run a service as a faust worker")
    w.add_argument("service", choices=sorted(service_entry_points()))
    w.add_argument("--web-port", type=int, default=None, help="port of this worker's web view")
    w.set_defaults(handler=_worker)
