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
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import (
    AclBinding, AclBindingFilter, AclOperation, AclPermissionType, AdminClient, ResourcePatternType,
    ResourceType, ScramCredentialInfo, ScramMechanism, UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)

from services.domain.registry import Registry, load_registry
from services.runtime.admin import create_topics
from services.runtime.kafka_client import librdkafka_config
from services.runtime.settings import Settings
from services.runtime.topics import agency_status_topic, agency_topic, catalogue
from services.tools.access_plan import (
    Grant, Operation, Pattern, Principal, Resource, agency_user, plan,
)
from services.tools.broker_security import new_secret, secret_file, write_secret

SCRAM_ITERATIONS = 8192
TIMEOUT_S = 30.0


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
    return AdminClient({**librdkafka_config(settings), "client.id": "lapor-access"})


def _wait(future: Future[Any], what: str) -> Any:
    try:
        return future.result(timeout=TIMEOUT_S)
    except KafkaException as exc:
        raise AccessError(f"{what}: {exc.args[0].str() if exc.args else exc}") from None


_RESOURCES = {Resource.topic: ResourceType.TOPIC, Resource.group: ResourceType.GROUP}
_PATTERNS = {Pattern.literal: ResourcePatternType.LITERAL, Pattern.prefixed: ResourcePatternType.PREFIXED}


def _binding(principal: str, grant: Grant) -> AclBinding:
    return AclBinding(_RESOURCES[grant.resource], grant.name, _PATTERNS[grant.pattern], principal,
                      "*", AclOperation[grant.operation.value], AclPermissionType.ALLOW)


def _filter(principal: str, grant: Grant) -> AclBindingFilter:
    """Exactly the one binding `_binding` makes (deletions take filters)."""
    return AclBindingFilter(_RESOURCES[grant.resource], grant.name, _PATTERNS[grant.pattern],
                            principal, "*", AclOperation[grant.operation.value],
                            AclPermissionType.ALLOW)


def _grant(binding: AclBinding) -> Grant | None:
    """The grant an ACL binding states, or None for one this tool never makes (a DENY, a
    host other than any, another resource type): such bindings are left alone."""
    resource = {v: k for k, v in _RESOURCES.items()}.get(binding.restype)
    pattern = {v: k for k, v in _PATTERNS.items()}.get(binding.resource_pattern_type)
    if (resource is None or pattern is None or binding.host != "*"
            or binding.permission_type != AclPermissionType.ALLOW
            or binding.operation.name not in {o.value for o in Operation}):
        return None
    return Grant(resource, pattern, binding.name, Operation(binding.operation.name))


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


def ensure_users(settings: Settings, admin: AdminClient, users: Iterable[str],
                 rotate: set[str], report: ProvisionReport) -> None:
    """A SCRAM credential and a secret file for each user; kept when both exist."""
    known = scram_users(admin)
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
        for user, future in admin.alter_user_scram_credentials(upserts).items():
            _wait(future, f"setting the SCRAM credential of {user}")
        _until(lambda: set(report.users_created) <= scram_users(admin), "the new SCRAM credentials")


def offboard(settings: Settings, admin: AdminClient, registry: Registry,
             report: ProvisionReport) -> None:
    """An agency gone from the registry loses its login, its grants and its secret file
    (only this deployment's: its user names carry the topic prefix)."""
    head = agency_user(settings, "")
    grants = current_grants(admin)
    logins = scram_users(admin)
    gone = sorted(u for u in logins | {p.removeprefix("User:") for p in grants}
                  if u.startswith(head) and u[len(head):] not in registry)
    if not gone:
        return
    revoke = [_filter(f"User:{u}", g) for u in gone for g in sorted(grants.get(f"User:{u}", set()))]
    if revoke:
        for binding, future in admin.delete_acls(revoke).items():
            _wait(future, f"revoking {binding}")
    deletions = [UserScramCredentialDeletion(u, ScramMechanism.SCRAM_SHA_512) for u in gone if u in logins]
    if deletions:
        for user, future in admin.alter_user_scram_credentials(deletions).items():
            _wait(future, f"deleting the SCRAM credential of {user}")
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


def converge_grants(admin: AdminClient, principals: list[Principal], report: ProvisionReport) -> None:
    have = current_grants(admin)
    add: list[AclBinding] = []
    remove: list[AclBindingFilter] = []
    for p in principals:
        wanted, present = set(p.grants), have.get(p.kafka_principal, set())
        add += [_binding(p.kafka_principal, g) for g in sorted(wanted - present)]
        remove += [_filter(p.kafka_principal, g) for g in sorted(present - wanted)]
    for start in range(0, len(add), 500):
        for binding, future in admin.create_acls(add[start:start + 500]).items():
            _wait(future, f"granting {binding}")
    if remove:
        for binding, future in admin.delete_acls(remove).items():
            _wait(future, f"revoking {binding}")
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
    specs = catalogue(settings) + [s for a in ids for s in (agency_topic(settings, a),
                                                            agency_status_topic(settings, a))]
    report.topics_created = len((await create_topics(settings, specs)).created)
    principals = plan(settings, ids)

    def users_and_grants() -> None:  # librdkafka's admin calls block: off the event loop
        admin = _admin(settings)
        ensure_users(settings, admin, [p.user for p in principals], set(rotate), report)
        converge_grants(admin, principals, report)
        offboard(settings, admin, registry, report)

    await asyncio.to_thread(users_and_grants)
    return report


def check(settings: Settings, user: str) -> tuple[bool, list[Grant]]:
    """Whether `user` has a SCRAM credential, and what it may do."""
    admin = _admin(settings)
    grants = current_grants(admin).get(f"User:{user}", set())
    return user in scram_users(admin), sorted(grants)


def as_principal(settings: Settings, user: str) -> Settings:
    """The same settings as another provisioned principal (its secret from LAPOR_ACCESS_DIR)."""
    if settings.kafka_security == "PLAINTEXT":
        return settings
    return settings.model_copy(update={"kafka_user": user,
                                       "kafka_password_file": secret_file(settings.access_dir, user)})


def _provision(args: argparse.Namespace, settings: Settings) -> int:
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


def register(sub: Any) -> None:
    a = sub.add_parser("access", help="principals, secrets and ACLs on the cluster (as lapor-admin)")
    actions = a.add_subparsers(dest="action", required=True)
    p = actions.add_parser("provision", help="create users, secrets, ACLs and agency topics "
                           "from the registry (idempotent)")
    p.add_argument("--agency", action="append", metavar="ID",
                   help="only these agencies (repeatable; default: every registered one)")
    p.add_argument("--rotate", action="append", metavar="USER",
                   help="give this user a new secret (repeatable); hand over the new file")
    p.set_defaults(handler=_provision)
    c = actions.add_parser("check", help="print what a principal may do")
    c.add_argument("principal", help="user name, e.g. agency-bpjs-kesehatan")
    c.set_defaults(handler=_check)
