"""`lapor access provision|check|rotate`: SCRAM users, their secrets and ACLs on the cluster,
from `access_plan` and the agency registry (librdkafka's admin client: aiokafka has no
SCRAM or ACL calls). Run as the operator's super user.

Provisioning converges and can be run again at any time: missing users are created (their
secret written to `LAPOR_ACCESS_DIR/secrets/<user>.secret`, readable by its owner only:
the file to hand over), existing users keep theirs, missing grants are added and grants
a planned principal no longer has are removed; an agency gone from the registry loses its
login and grants (its topics stay, for the records' retention). The agency topics are
created with them.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (
    AclBinding, AclBindingFilter, AclOperation, AclPermissionType, AdminClient, ResourcePatternType,
    ResourceType, ScramCredentialInfo, ScramMechanism, UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)

from services.domain.registry import Registry, load_registry
from services.runtime.admin import create_topics
from services.runtime.broker_wait import wait_for_broker
from services.runtime.kafka_client import librdkafka_config
from services.runtime.settings import Settings
from services.runtime.topics import agency_topics, catalogue
from services.tools.access_plan import (
    Grant, Operation, Pattern, Principal, Resource, Role, agency_user, plan,
)
from services.tools.broker_security import (
    as_principal, hand_out, new_secret, secret_file, write_secret,
)
from services.tools.client_certs import IssuedCert, issue, issued, revoke, user_of_principal

__all__ = ["AccessError", "as_principal", "check", "provision", "register"]

SCRAM_ITERATIONS = 8192
# One admin call may carry every registered agency's credentials or grants (hundreds): on a
# busy cluster (or a busy machine) the controller takes its time.
TIMEOUT_S = 120.0


class AccessError(RuntimeError):
    """The cluster refused a provisioning step; the message says which and why."""


@dataclass
class ProvisionReport:
    users_created: list[str] = field(default_factory=list)
    users_kept: list[str] = field(default_factory=list)
    users_removed: list[str] = field(default_factory=list)  # agencies gone from the registry
    grants_added: int = 0
    grants_removed: int = 0
    topics_created: int = 0

    def summary(self) -> str:
        return (f"users: {len(self.users_created)} created, {len(self.users_kept)} kept, "
                f"{len(self.users_removed)} removed; "
                f"ACLs: {self.grants_added} added, {self.grants_removed} removed; "
                f"topics: {self.topics_created} created")


def _admin(settings: Settings) -> AdminClient:
    # librdkafka's warnings and errors only: at its default level it prints an info line
    # ("Purging 1 unserved events from background queue") whenever a client is dropped.
    return AdminClient({**librdkafka_config(settings), "client.id": "lapor-access", "log_level": "4"})


def _wait(future: Future[Any], what: str) -> Any:
    try:
        return future.result(timeout=TIMEOUT_S)
    except KafkaException as exc:
        raise AccessError(f"{what}: {exc.args[0].str() if exc.args else exc}") from None
    except TimeoutError:
        raise AccessError(f"{what}: no answer from the cluster within {TIMEOUT_S:.0f} s; "
                          "provisioning converges, so run it again") from None


def _wait_each(futures: Mapping[Any, Future[Any]], what: str) -> None:
    """Every future of one admin call (keyed by the user or ACL it is about)."""
    for subject, future in futures.items():
        _wait(future, f"{what} {subject}")


_RESOURCES = {Resource.topic: ResourceType.TOPIC, Resource.group: ResourceType.GROUP}
_PATTERNS = {Pattern.literal: ResourcePatternType.LITERAL, Pattern.prefixed: ResourcePatternType.PREFIXED}
_RESOURCE_OF = {v: k for k, v in _RESOURCES.items()}
_PATTERN_OF = {v: k for k, v in _PATTERNS.items()}
_OPERATIONS = {o.value for o in Operation}


def _acl(kind: type[AclBindingFilter], principal: str, grant: Grant) -> Any:
    """The ACL binding of a grant (`AclBinding`), or the filter matching exactly it
    (`AclBindingFilter`: what deletions take)."""
    return kind(_RESOURCES[grant.resource], grant.name, _PATTERNS[grant.pattern], principal,
                "*", AclOperation[grant.operation.value], AclPermissionType.ALLOW)


def _grant(binding: AclBinding) -> Grant | None:
    """The grant an ACL binding states, or None for one this tool never makes (a DENY, a
    host other than any, another resource type): such bindings are left alone."""
    resource = _RESOURCE_OF.get(binding.restype)
    pattern = _PATTERN_OF.get(binding.resource_pattern_type)
    if (resource is None or pattern is None or binding.host != "*"
            or binding.permission_type != AclPermissionType.ALLOW
            or binding.operation.name not in _OPERATIONS):
        return None
    return Grant(resource, pattern, binding.name, Operation(binding.operation.name))


def require_authoriser(admin: AdminClient, bootstrap: str) -> None:
    """Refuse, in one line and before anything is changed, a cluster that cannot keep
    ACLs. Listing ACLs there answers an empty list; deleting (a filter that matches nothing
    this tool ever makes) is refused with SECURITY_DISABLED."""
    probe = AclBindingFilter(ResourceType.TOPIC, "lapor-authoriser-probe", ResourcePatternType.LITERAL,
                             "User:lapor-authoriser-probe", None, AclOperation.ANY,
                             AclPermissionType.ANY)
    for future in admin.delete_acls([probe]).values():
        try:
            future.result(timeout=TIMEOUT_S)
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            if error is not None and error.code() == KafkaError.SECURITY_DISABLED:
                raise AccessError(
                    f"the cluster at {bootstrap} has no authoriser (authorizer.class.name is "
                    "unset), so it cannot keep ACLs: start it with authentication "
                    "(`lapor broker start` without --insecure-plain) or configure Kafka's "
                    "StandardAuthorizer") from None
            raise AccessError(f"probing the cluster's authoriser: {error.str() if error else exc}") from None
        except TimeoutError:
            raise AccessError(f"probing the cluster's authoriser: no answer from {bootstrap} "
                              f"within {TIMEOUT_S:.0f} s") from None


def current_grants(admin: AdminClient) -> dict[str, set[Grant]]:
    """Every ALLOW grant on the cluster, by Kafka principal."""
    everything = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None,
                                  AclOperation.ANY, AclPermissionType.ANY)
    out: dict[str, set[Grant]] = {}
    for binding in _wait(admin.describe_acls(everything), "listing ACLs"):
        grant = _grant(binding)
        if grant is not None:
            out.setdefault(binding.principal, set()).add(grant)
    return out


def scram_users(admin: AdminClient) -> set[str]:
    return set(_wait(admin.describe_user_scram_credentials(), "listing SCRAM users"))


def ensure_users(settings: Settings, admin: AdminClient, known: set[str], users: Iterable[str],
                 rotate: set[str], report: ProvisionReport) -> None:
    """A SCRAM credential and a secret file for each user; kept when both exist. `known`:
    the users with a credential before."""
    upserts = []
    for user in users:
        path = secret_file(settings.access_dir, user)
        if user in known and path.exists() and user not in rotate:
            report.users_kept.append(user)
            continue
        secret = new_secret()
        write_secret(path, secret)  # first: a credential whose secret was lost is useless
        upserts.append(UserScramCredentialUpsertion(
            user, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, SCRAM_ITERATIONS), secret.encode()))
        report.users_created.append(user)
    if upserts:
        _wait_each(admin.alter_user_scram_credentials(upserts), "setting the SCRAM credential of")
        _until(lambda: set(report.users_created) <= scram_users(admin), "the new SCRAM credentials")
        # A rotated user was listed before its new secret too: only a login with that secret
        # shows the broker has applied it (a client right after rotation was refused, once).
        rotated = [u for u in report.users_created if u in known]
        if rotated:
            _until(lambda: all(logs_in(as_principal(settings, u)) for u in rotated),
                   "the rotated SCRAM credentials")


def logs_in(settings: Settings) -> bool:
    """Whether the cluster takes these settings' login now (a metadata request)."""
    client = AdminClient({**librdkafka_config(settings), "log_level": "0"})
    try:
        client.list_topics(timeout=5)
        return True
    except KafkaException:
        return False


def offboard(settings: Settings, admin: AdminClient, registry: Registry, logins: set[str],
             grants: dict[str, set[Grant]], report: ProvisionReport) -> None:
    """An agency gone from the registry loses its login, its grants and its secret file
    (only this deployment's: its user names carry the topic prefix). `logins` and `grants`:
    the cluster's before provisioning (it changes only planned principals, never these)."""
    head = agency_user(settings, "")
    gone = sorted(u for u in logins | {p.removeprefix("User:") for p in grants}
                  if u.startswith(head) and user_of_principal(u)[len(head):] not in registry)
    if not gone:
        return
    revoke = [_acl(AclBindingFilter, f"User:{u}", g) for u in gone
              for g in sorted(grants.get(f"User:{u}", set()))]
    if revoke:
        _wait_each(admin.delete_acls(revoke), "revoking")
    deletions = [UserScramCredentialDeletion(u, ScramMechanism.SCRAM_SHA_512) for u in gone if u in logins]
    if deletions:
        _wait_each(admin.alter_user_scram_credentials(deletions), "deleting the SCRAM credential of")
    for user in gone:
        secret_file(settings.access_dir, user).unlink(missing_ok=True)
    report.users_removed, report.grants_removed = gone, report.grants_removed + len(revoke)
    _until(lambda: not (set(gone) & scram_users(admin)), "the removed SCRAM credentials")


def _until(done: Callable[[], bool], what: str, timeout_s: float = TIMEOUT_S) -> None:
    """The controller has committed a change when the call returns; the broker applies it
    (authentication, authorisation) a moment later. Wait until it answers with it, so that a
    client started right after provisioning is not refused."""
    deadline = time.monotonic() + timeout_s
    while not done():
        if time.monotonic() > deadline:
            raise AccessError(f"the broker did not apply {what} within {timeout_s:.0f}s")
        time.sleep(0.2)


def converge_grants(admin: AdminClient, have: dict[str, set[Grant]], principals: list[Principal],
                    report: ProvisionReport) -> None:
    """Give each principal exactly its planned grants; `have`: the cluster's grants before."""
    add: list[AclBinding] = []
    remove: list[AclBindingFilter] = []
    for p in principals:
        wanted, present = set(p.grants), have.get(p.kafka_principal, set())
        add += [_acl(AclBinding, p.kafka_principal, g) for g in sorted(wanted - present)]
        remove += [_acl(AclBindingFilter, p.kafka_principal, g) for g in sorted(present - wanted)]
    for start in range(0, len(add), 500):
        _wait_each(admin.create_acls(add[start:start + 500]), "granting")
    if remove:
        _wait_each(admin.delete_acls(remove), "revoking")
    report.grants_added, report.grants_removed = len(add), len(remove)
    if add or remove:
        planned = {p.kafka_principal: set(p.grants) for p in principals}
        _until(lambda: all(current_grants(admin).get(k, set()) == v for k, v in planned.items()),
               "the new ACLs")


async def provision(settings: Settings, agency_ids: list[str] | None = None,
                    rotate: Iterable[str] = ()) -> ProvisionReport:
    """Users, secrets, ACLs and topics for the services, channels, the national admin and
    `agency_ids` (every registered agency when None)."""
    registry = load_registry(settings.agencies_file)
    ids = sorted(registry.ids()) if agency_ids is None else agency_ids
    unknown = [a for a in ids if a not in registry]
    if unknown:
        raise AccessError(f"not in the agency registry: {', '.join(unknown)}")
    report = ProvisionReport()
    await asyncio.to_thread(require_authoriser, _admin(settings), settings.bootstrap_servers)
    specs = catalogue(settings) + [s for a in ids for s in agency_topics(settings, a)]
    report.topics_created = len((await create_topics(settings, specs)).created)
    principals = plan(settings, ids)
    certified = certificate_principals(settings, principals)

    def users_and_grants() -> None:  # librdkafka's admin calls block: off the event loop
        admin = _admin(settings)
        logins, grants = scram_users(admin), current_grants(admin)  # read once
        ensure_users(settings, admin, logins, [p.user for p in principals], set(rotate), report)
        converge_grants(admin, grants, principals + certified, report)
        offboard(settings, admin, registry, logins, grants, report)

    await asyncio.to_thread(users_and_grants)
    return report


def certificate_principals(settings: Settings, principals: list[Principal]) -> list[Principal]:
    """Each issued client certificate as a principal: its user's grants, none once revoked
    (or once its user is no longer planned)."""
    by_user = {p.user: p for p in principals}
    out = []
    for cert in issued(settings):
        base = by_user.get(cert.user)
        if base is None and cert.revoked_at is None:
            continue  # another deployment's (or an offboarded agency's): offboarding removes it
        grants = base.grants if base is not None and cert.revoked_at is None else ()
        out.append(Principal(cert.principal, base.role if base else Role.agency, grants))
    return out


def _planned(settings: Settings, user: str) -> Principal:
    registry = load_registry(settings.agencies_file)
    found = next((p for p in plan(settings, sorted(registry.ids())) if p.user == user), None)
    if found is None:
        raise AccessError(f"{user} is not a principal of this deployment (`lapor access check` "
                          "names them: svc-*, channel-*, national-admin, agency-<id>)")
    return found


def issue_certificate(settings: Settings, user: str, target: Path) -> tuple[IssuedCert, dict[str, Path]]:
    """A client certificate carrying `user`'s grants, for clients that cannot use SCRAM."""
    base = _planned(settings, user)
    cert, files = issue(settings, user, target)
    admin = _admin(settings)
    converge_grants(admin, current_grants(admin), [Principal(cert.principal, base.role, base.grants)],
                    ProvisionReport())
    return cert, files


def revoke_certificate(settings: Settings, principal: str) -> IssuedCert:
    """Take a certificate's grants away: its holder may do nothing from the next request."""
    cert = revoke(settings, principal)
    admin = _admin(settings)
    role = Role.agency  # (the role does not matter for an empty set of grants)
    converge_grants(admin, current_grants(admin), [Principal(cert.principal, role, ())], ProvisionReport())
    return cert


def check(settings: Settings, user: str) -> tuple[bool, list[Grant]]:
    """Whether `user` has a SCRAM credential, and what it may do."""
    admin = _admin(settings)
    grants = current_grants(admin).get(f"User:{user}", set())
    return user in scram_users(admin), sorted(grants)


def _provision(args: argparse.Namespace, settings: Settings) -> int:
    if args.wait:  # a deployment's first step: the broker may be starting still
        asyncio.run(wait_for_broker(settings))
    report = asyncio.run(provision(settings, args.agency or None, args.rotate or ()))
    for user in report.users_created:
        print(f"secret for {user}: {secret_file(settings.access_dir, user)}")
    print(report.summary())
    return 0


def _check(args: argparse.Namespace, settings: Settings) -> int:
    user = args.principal.removeprefix("User:")
    known, grants = check(settings, user)
    print(f"User:{user}: {'has a SCRAM credential' if known else 'no SCRAM credential (cannot log in)'}")
    for grant in grants:
        print(f"  may {grant.describe()}")
    if not grants:
        print("  may do nothing (deny by default)")
    return 0 if known else 1


def _hand_out(args: argparse.Namespace, settings: Settings) -> int:
    for pair in args.placements:
        user, sep, target = pair.partition("=")
        if not sep or not user or not target:
            raise ValueError(f"expected USER=DIR, got {pair!r}")
        print(f"{user}: {hand_out(settings, user, Path(target))}")
    return 0


def _issue_cert(args: argparse.Namespace, settings: Settings) -> int:
    from services.tools import broker

    cert, files = issue_certificate(settings, args.user, Path(args.out))
    port = broker.cert_port(settings)
    where = f"127.0.0.1:{port}" if port else "<the cluster's CERTS listener>"
    print(f"certificate {cert.principal} for {cert.user} (its grants), valid 825 days:")
    print(f"  key {files['key']} (hand it to its holder only), certificate {files['cert']}, CA {files['ca']}")
    print(f"  kcat -b {where} -X security.protocol=ssl -X ssl.ca.location={files['ca']} "
          f"-X ssl.certificate.location={files['cert']} -X ssl.key.location={files['key']} ...")
    return 0


def _revoke_cert(args: argparse.Namespace, settings: Settings) -> int:
    cert = revoke_certificate(settings, args.principal)
    print(f"revoked {cert.principal} ({cert.user}) at {cert.revoked_at}: it may do nothing now")
    return 0


def _list_certs(args: argparse.Namespace, settings: Settings) -> int:
    for cert in issued(settings):
        state = f"revoked {cert.revoked_at}" if cert.revoked_at else "valid"
        print(f"{cert.principal:50} {cert.user:32} issued {cert.issued_at}  {state}")
    return 0


def register(sub: Any) -> None:
    a = sub.add_parser("access", help="principals, secrets and ACLs on the cluster (as lapor-admin)")
    actions = a.add_subparsers(dest="action", required=True)
    p = actions.add_parser("provision", help="create users, secrets, ACLs and agency topics "
                           "from the registry (idempotent)")
    p.add_argument("--agency", action="append", metavar="ID",
                   help="only these agencies (repeatable; default: every registered one)")
    p.add_argument("--rotate", action="append", metavar="USER",
                   help="give this user a new secret (repeatable); hand over the new file")
    p.add_argument("--wait", action="store_true",
                   help="first wait for the cluster to answer the operator (LAPOR_BROKER_WAIT_S)")
    p.set_defaults(handler=_provision)
    h = actions.add_parser("hand-out", help="copy a principal's secret and the CA certificate "
                           "into the directory only that principal's process mounts")
    h.add_argument("placements", nargs="+", metavar="USER=DIR")
    h.set_defaults(handler=_hand_out)
    ic = actions.add_parser("issue-cert", help="a client certificate with a user's grants, for "
                            "Kafka clients that cannot log in with SCRAM (librdkafka < 2.6.1)")
    ic.add_argument("user", help="e.g. agency-pemda-32-73")
    ic.add_argument("--out", required=True, help="directory for the key, certificate and CA")
    ic.set_defaults(handler=_issue_cert)
    rc = actions.add_parser("revoke-cert", help="take a client certificate's grants away")
    rc.add_argument("principal", help="the certificate's principal, <user>.tls-<serial>")
    rc.set_defaults(handler=_revoke_cert)
    lc = actions.add_parser("certs", help="list the client certificates issued here")
    lc.set_defaults(handler=_list_certs)
    c = actions.add_parser("check", help="print what a principal may do")
    c.add_argument("principal", help="user name, e.g. agency-bpjs-kesehatan")
    c.set_defaults(handler=_check)
