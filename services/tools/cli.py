"""The ``lapor`` command: broker, topics, schemas, workers and operator tools."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from importlib.metadata import entry_points

from services.runtime.settings import Settings, get_settings

Handler = Callable[[argparse.Namespace, Settings], int]


def _broker(args: argparse.Namespace, settings: Settings) -> int:
    from services.tools import broker, cluster
    from services.tools.broker_security import admin_settings

    if args.action == "start" and args.insecure_plain:
        settings = settings.model_copy(update={"kafka_security": "PLAINTEXT"})
    if args.action == "start" and args.nodes > 1:
        bootstrap = cluster.start(settings, args.nodes,
                                  [args.port + i for i in range(args.nodes)] if args.port else None)
        print(f"{args.nodes}-node cluster running at {bootstrap} (state in {cluster.state_dir(settings)})")
        print(f"export LAPOR_BOOTSTRAP_SERVERS={bootstrap} LAPOR_REPLICATION_FACTOR=3")
        _print_operator_exports(admin_settings(settings))
    elif args.action == "start":
        bootstrap = broker.start(settings, port=args.port)
        print(f"broker running at {bootstrap} (state in {broker.paths(settings).state})")
        certs = broker.cert_port(settings)
        if certs:
            print(f"clients with a certificate (`lapor access issue-cert`): 127.0.0.1:{certs}")
        print(f"export LAPOR_BOOTSTRAP_SERVERS={bootstrap}")
        _print_operator_exports(admin_settings(settings))
    elif args.action == "stop":
        stopped = broker.stop(settings) | cluster.stop(settings)
        print("broker stopped" if stopped else "no broker was running")
    elif args.action == "fetch":
        print(f"broker jars in {broker.fetch(settings)}")
    elif args.action == "certs":
        from services.tools.broker_security import ensure_files, install_broker_files, write_private

        made = ensure_files(settings, tuple(args.host or ()))
        print(f"development CA {made.ca_cert}, broker keystore {made.keystore}, "
              f"admin secret {made.admin_secret}")
        if args.broker_files:  # a node elsewhere (a container): listening on all interfaces
            host = (args.host or ["localhost"])[0]
            port = args.port or settings.broker_port
            node = install_broker_files(settings, args.broker_files)
            properties = args.broker_files / "server.properties"
            write_private(properties, broker.node_properties(
                settings, "0.0.0.0", host, port, port + 1, port + 2, Path("/var/lib/kafka/data"),
                installed=node, cert_port=port + 3))
            print(f"wrote {properties}, {node.keystore} and {node.ca_cert} for {host}:{port} "
                  f"(client certificates: {host}:{port + 3})")
    else:
        port, nodes = broker.running_port(settings), cluster.running(settings)
        if nodes:
            print(f"cluster nodes running: {nodes} at {cluster.bootstrap(cluster.layout(settings))}")
        if port or not nodes:
            print(f"running at 127.0.0.1:{port}" if port else "not running")
        return 0 if port or nodes else 3
    return 0


def _provider(args: argparse.Namespace, settings: Settings) -> int:
    from services.tools import signin_provider as provider

    if args.action == "fetch":
        print(f"Keycloak in {provider.fetch(settings)}")
    elif args.action == "start":
        running = provider.start(settings, list(args.redirect or provider.LOOPBACK_REDIRECTS))
        print(f"sign-in provider running: issuer {running.issuer} (state in {provider.state_dir(settings)})")
        for account in provider.DEMO_ACCOUNTS:
            print(f"  account {account.username} / {account.password}: groups {', '.join(account.groups) or '(none)'}")
    elif args.action == "stop":
        print("provider stopped" if provider.stop(settings) else "no provider was running")
    elif args.action == "files":  # a deployment's provider: its admin secret, made once
        print(f"admin secret in {provider.admin_secret_file(args.out)}")
    elif args.action == "configure":  # a deployment's running provider: realm, client, accounts
        admin = provider.admin_secret_file(args.out).read_text().strip()
        done = provider.configure(args.url, args.public_url, admin,
                                  list(args.redirect or provider.LOOPBACK_REDIRECTS),
                                  args.signin_out or [Path("/signin")],
                                  args.out / "accounts.txt")
        print(f"realm configured: issuer {done.issuer}; client secret and a session key in "
              f"each of {', '.join(map(str, args.signin_out or ['/signin']))}; accounts in {args.out / 'accounts.txt'}")
    else:
        found = provider.running_provider(settings)
        print(f"running: issuer {found.issuer}" if found else "not running")
        return 0 if found else 3
    return 0


def _print_operator_exports(admin: Settings) -> None:
    if admin.kafka_security == "PLAINTEXT":
        print("export LAPOR_KAFKA_SECURITY=PLAINTEXT  # no authentication: development only")
    else:  # the admin's secret stays in its file; only the path is printed
        print(f"export LAPOR_KAFKA_USER={admin.kafka_user} "
              f"LAPOR_KAFKA_PASSWORD_FILE={admin.kafka_password_file} "
              f"LAPOR_KAFKA_CA_FILE={admin.kafka_ca_file}")


def _topics(args: argparse.Namespace, settings: Settings) -> int:
    from services.runtime.admin import create_topics, existing_partitions
    from services.runtime.topics import agency_topics, catalogue

    specs = catalogue(settings)
    if args.action == "create":
        if args.agencies:
            from services.domain.registry import load_registry

            specs += [spec for a in sorted(load_registry(settings.agencies_file).ids())
                      for spec in agency_topics(settings, a)]
        report = asyncio.run(create_topics(settings, specs))
        for name in report.created:
            print(f"created {name}")
        print(report.summary())
    else:
        have = asyncio.run(existing_partitions(settings, [settings.topic(s.name) for s in specs]))
        for s in specs:
            name = settings.topic(s.name)
            state = f"{have[name]} partitions" if name in have else "missing"
            print(f"{name:40} key={s.key:28} {state}")
    return 0


def _schemas(args: argparse.Namespace, settings: Settings) -> int:
    from schemas.export import export_schemas, stale_schemas

    if args.action == "asyncapi":  # the contract as AsyncAPI 3.0 (docs/asyncapi.yaml)
        from services.tools.asyncapi import render

        if args.out is None:
            sys.stdout.write(render())
        else:
            args.out.write_text(render(), encoding="utf-8")
            print(f"wrote {args.out}")
        return 0
    if args.action == "export":
        for path in export_schemas():
            print(f"wrote {path}")
        return 0
    stale = stale_schemas()
    for name in stale:
        print(f"stale: {name}")
    return 1 if stale else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lapor", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    b = sub.add_parser("broker", help="the embedded Kafka broker (or a local 3-node cluster)")
    b.add_argument("action", choices=["start", "stop", "status", "fetch", "certs"],
                   help="certs: make the development CA, broker keystore and admin secret "
                   "(once; `start` does it too)")
    b.add_argument("--host", action="append", help="certs: another name of the broker")
    b.add_argument("--broker-files", type=Path, default=None, metavar="DIR",
                   help="certs: also write what a broker node elsewhere needs into DIR (its "
                   "server.properties, keystore and the CA certificate; no CA key, no secret)")
    b.add_argument("--port", type=int, default=None, help="client port (default LAPOR_BROKER_PORT)")
    b.add_argument("--nodes", type=int, default=1, choices=[1, 3],
                   help="3: a KRaft cluster (RF 3, min.insync.replicas 2) on ports PORT..PORT+2")
    b.add_argument("--insecure-plain", action="store_true",
                   help="no TLS, no authentication, no ACLs: a throwaway development broker only")
    b.set_defaults(handler=_broker)

    pv = sub.add_parser("provider", help="the development OpenID Connect provider (Keycloak) "
                        "with the demo realm and accounts, for staff sign-in")
    pv.add_argument("action", choices=["start", "stop", "status", "fetch", "files", "configure"],
                    help="files, configure: a deployment's own Keycloak (compose)")
    pv.add_argument("--out", type=Path, default=Path("/provider"),
                    help="files, configure: the provider's folder (admin secret, accounts)")
    pv.add_argument("--signin-out", type=Path, action="append",
                    help="configure: a folder for one site's workers: the client secret and a "
                    "session key of that site's own (repeat per site; default /signin)")
    pv.add_argument("--url", default="http://keycloak:8080", help="configure: the provider from here")
    pv.add_argument("--public-url", default="http://localhost:8081",
                    help="configure: the provider as browsers reach it (the issuer's origin)")
    pv.add_argument("--redirect", action="append", help="start: a redirect URI the client allows "
                    "(default: any port on 127.0.0.1 and localhost)")
    pv.set_defaults(handler=_provider)

    t = sub.add_parser("topics", help="create or list the contract topics")
    t.add_argument("action", choices=["create", "list"], nargs="?", default="list")
    t.add_argument("--agencies", action="store_true",
                   help="also create every registered agency's complaints and status topics "
                   "(`lapor access provision` does this with the principals)")
    t.set_defaults(handler=_topics)

    s = sub.add_parser("schemas", help="export or check the JSON Schema files, or write the "
                       "AsyncAPI 3.0 document of the contract")
    s.add_argument("action", choices=["export", "check", "asyncapi"])
    s.add_argument("--out", type=Path, default=None,
                   help="asyncapi: write it to this file (docs/asyncapi.yaml) instead of stdout")
    s.set_defaults(handler=_schemas)

    from services.tools import access, bridge_files, cli_tools, rules, show, units, web_proxy

    access.register(sub)
    bridge_files.register(sub)
    cli_tools.register(sub)
    rules.register(sub)
    show.register(sub)
    units.register(sub)
    web_proxy.register(sub)
    # Commands a service brings along (e.g. the router's `routes`), through entry points.
    for command in entry_points(group="lapor.commands"):
        command.load()(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    # A command's failure is told once, in words, below; not also by aiokafka's own logger
    # (a worker sets its own levels when its logging starts).
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    try:
        return handler(args, get_settings())
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a clear message and a script-friendly exit code, no traceback
        from services.runtime.admin import TopicCreationError, TopicMismatchError
        from services.runtime.broker_wait import BrokerUnavailableError
        from services.runtime.kafka_client import KafkaAccessError, connection_problem
        from services.tools.access import AccessError
        from services.tools.broker import BrokerError
        from services.tools.broker_security import SecuritySetupError
        from services.tools.signin_provider import ProviderError

        from aiokafka.errors import (
            ClusterAuthorizationFailedError, GroupAuthorizationFailedError, KafkaConnectionError,
            KafkaError, TopicAuthorizationFailedError,
        )
        from pydantic import ValidationError

        if isinstance(exc, KafkaConnectionError):
            problem = asyncio.run(connection_problem(get_settings()))
            print(f"lapor {args.command}: {problem or exc}", file=sys.stderr)
            return 2
        if isinstance(exc, (TopicAuthorizationFailedError, GroupAuthorizationFailedError,
                            ClusterAuthorizationFailedError)):
            user = get_settings().kafka_user
            print(f"lapor {args.command}: not authorised: {user} may not do this ({exc!r}); "
                  f"`lapor access check {user}` lists what it may do", file=sys.stderr)
            return 2
        if isinstance(exc, KafkaError):
            print(f"lapor {args.command}: Kafka error: {exc!r} (is the broker up, the topic created?)",
                  file=sys.stderr)
            return 2

        if isinstance(exc, ValidationError):
            print(f"lapor {args.command}: invalid input:\n{exc}", file=sys.stderr)
            return 2
        if isinstance(exc, (BrokerError, BrokerUnavailableError, TopicMismatchError, TopicCreationError,
                            KafkaAccessError, AccessError, SecuritySetupError, ProviderError,
                            FileNotFoundError, ValueError)):
            print(f"lapor {args.command}: error: {exc}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
