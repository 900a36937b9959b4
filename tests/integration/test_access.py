"""Agency access on the real broker with authentication on (SASL/SCRAM over TLS, ACLs):
each agency reads only its own topic and speaks only for itself."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest
from aiokafka.errors import TopicAuthorizationFailedError
from confluent_kafka.admin import (
    AclBinding, AclOperation, AclPermissionType, AdminClient, ResourcePatternType, ResourceType,
)

from services.runtime.kafka_client import librdkafka_config
from services.runtime.settings import Settings
from services.runtime.topics import (
    ADMIN_STATUS, AUTO_DISPOSITIONS, CLAIMS, CLOSURES, STATUS, SUBMITTED, agency_status_topic_name,
    agency_topic_name, notifications_topic_name, reporter_status_topic_name,
)
from services.tools.access import AccessError, check, provision
from services.tools.access_plan import agency_user, channel_user, national_admin_user, service_user
from tests.kafka_helpers import as_principal, consume, isolated, produce

AGENCIES = ["pln", "bpjs-kesehatan"]
CID = "LPR-7K2QX9M4TD5W"


def status(agency: str | None) -> tuple[bytes, bytes]:
    body = {"event_id": "st-1", "complaint_id": CID, "status": "closed",
            "at": "2026-03-02T09:15:00+07:00", **({"agency_id": agency} if agency else {})}
    return CID.encode(), json.dumps(body).encode()


def lapor(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "services.tools.cli", *args],
                          env=settings.environment(), capture_output=True, text=True, timeout=90)


@pytest.fixture
async def deployment(broker_settings: Settings) -> Settings:
    settings = isolated(broker_settings)
    await provision(settings, AGENCIES)
    return settings


async def test_an_agency_reads_and_writes_only_its_own_topics(deployment: Settings) -> None:
    admin = deployment
    pln = as_principal(admin, agency_user(admin, "pln"))
    await produce(admin, agency_topic_name("pln"), [(b"k", b"for pln")])
    await produce(admin, agency_topic_name("bpjs-kesehatan"), [(b"k", b"for bpjs")])

    assert [r.value for r in await consume(pln, agency_topic_name("pln"), expected=1, quiet_s=0.5)] == [b"for pln"]
    with pytest.raises(TopicAuthorizationFailedError):
        await consume(pln, agency_topic_name("bpjs-kesehatan"), timeout_s=10)

    await produce(pln, agency_status_topic_name("pln"), [status("pln")])  # its own: allowed
    with pytest.raises(TopicAuthorizationFailedError):  # another agency's status topic
        await produce(pln, agency_status_topic_name("bpjs-kesehatan"), [status("bpjs-kesehatan")])
    # the statuses topic, the gate's, the admin's, the disposition stage's (rule_id is its mark)
    for judged_only in (STATUS, CLAIMS, ADMIN_STATUS, AUTO_DISPOSITIONS):
        with pytest.raises(TopicAuthorizationFailedError):
            await produce(pln, judged_only, [status("pln")])
    assert [r.value for r in await consume(admin, STATUS, timeout_s=5, quiet_s=1)] == []
    # The national admin assigns on its own topic, for the gate and then the judge; it writes
    # neither the claims nor the judged statuses.
    national = as_principal(admin, national_admin_user(admin))
    assigned = json.dumps({"event_id": "as-1", "complaint_id": CID, "status": "assigned",
                           "target_agency_id": "pln", "at": "2026-03-02T09:15:00+07:00"}).encode()
    await produce(national, ADMIN_STATUS, [(CID.encode(), assigned)])
    assert [r.value for r in await consume(admin, ADMIN_STATUS, expected=1, quiet_s=0.5)] == [assigned]
    for judged_only in (STATUS, CLAIMS):
        with pytest.raises(TopicAuthorizationFailedError):
            await produce(national, judged_only, [(CID.encode(), assigned)])
    with pytest.raises(TopicAuthorizationFailedError):  # and reads no agency topic
        await consume(national, agency_topic_name("pln"), timeout_s=10)


async def test_a_channel_writes_its_input_but_reads_no_agency_topic(deployment: Settings) -> None:
    web = as_principal(deployment, channel_user(deployment, "web"))
    await produce(web, SUBMITTED, [(b"s-1", b"{}")])
    with pytest.raises(TopicAuthorizationFailedError):
        await consume(web, agency_topic_name("pln"), timeout_s=10)
    with pytest.raises(TopicAuthorizationFailedError):
        await produce(web, agency_status_topic_name("pln"), [status("pln")])


async def test_provisioning_converges_and_a_rotated_secret_replaces_the_old(deployment: Settings) -> None:
    again = await provision(deployment, AGENCIES)
    assert (again.users_created, again.grants_added, again.grants_removed, again.topics_created) == ([], 0, 0, 0)
    # A grant someone added by hand (pln reading bpjs's complaints) is taken back.
    stray = AclBinding(ResourceType.TOPIC, deployment.topic(agency_topic_name("bpjs-kesehatan")),
                       ResourcePatternType.LITERAL, f"User:{agency_user(deployment, 'pln')}", "*",
                       AclOperation.READ, AclPermissionType.ALLOW)
    admin = AdminClient(librdkafka_config(deployment))
    for future in admin.create_acls([stray]).values():
        future.result(timeout=30)
    healed = await provision(deployment, AGENCIES)
    assert (healed.grants_added, healed.grants_removed) == (0, 1)
    assert all("bpjs" not in g.name for g in check(deployment, agency_user(deployment, "pln"))[1])
    user = agency_user(deployment, "pln")
    pln = as_principal(deployment, user)
    old_secret = pln.kafka_password_file.read_text() if pln.kafka_password_file else ""
    old_file = deployment.access_dir / "old-pln.secret"
    old_file.write_text(old_secret)

    rotated = await provision(deployment, AGENCIES, rotate=[user])
    assert rotated.users_created == [user]
    await produce(pln, agency_status_topic_name("pln"), [status("pln")])  # the new secret works
    old = pln.model_copy(update={"kafka_password_file": old_file})
    refused = lapor(old, "tail", agency_topic_name("pln"), "-n", "1")
    assert refused.returncode == 2
    assert f"authentication failed for LAPOR_KAFKA_USER={user}" in refused.stderr
    assert old_secret.strip() not in refused.stderr + refused.stdout


async def test_check_prints_what_a_principal_may_do(deployment: Settings) -> None:
    known, grants = check(deployment, agency_user(deployment, "pln"))
    assert known
    assert {g.describe() for g in grants} == {
        f"READ     topic {deployment.topic(agency_topic_name('pln'))}",
        f"WRITE    topic {deployment.topic(agency_status_topic_name('pln'))}",
        f"READ     group {deployment.topic('agency.pln.')}*",
    }
    shown = lapor(deployment, "access", "check", agency_user(deployment, "bpjs-kesehatan"))
    assert shown.returncode == 0, shown.stderr
    assert f"may WRITE    topic {deployment.topic(agency_status_topic_name('bpjs-kesehatan'))}" in shown.stdout
    assert agency_status_topic_name("pln") not in shown.stdout
    nobody = lapor(deployment, "access", "check", "no-such-user")
    assert nobody.returncode == 1 and "may do nothing" in nobody.stdout


def test_the_secrets_are_files_only_their_owner_reads(deployment: Settings) -> None:
    secrets = list((deployment.access_dir / "secrets").glob(f"{deployment.topic_prefix}*.secret"))
    assert {p.stem for p in secrets} >= {agency_user(deployment, a) for a in AGENCIES}
    assert all(p.stat().st_mode & 0o077 == 0 for p in secrets)


async def test_agency_ids_outside_the_registry_are_refused(broker_settings: Settings) -> None:
    settings = isolated(broker_settings)
    with pytest.raises(AccessError, match="not in the agency registry: pemda-99"):
        await provision(settings, ["pln", "pemda-99"])
    refused = lapor(settings, "access", "provision", "--agency", "pemda-99")
    assert refused.returncode == 2 and "pemda-99" in refused.stderr


async def test_an_agency_gone_from_the_registry_loses_its_login_and_grants(
    broker_settings: Settings, tmp_path: Path,
) -> None:
    other = isolated(broker_settings)  # another deployment on the same cluster
    await provision(other, ["pln"])
    extra = tmp_path / "agencies.yaml"
    extra.write_text("agencies:\n  - {id: dinas-uji, name: Dinas Uji Coba, kind: regional}\n")
    with_it = isolated(broker_settings).model_copy(update={"agencies_file": extra})
    await provision(with_it, ["dinas-uji"])
    user = agency_user(with_it, "dinas-uji")
    assert check(with_it, user)[0] and check(with_it, user)[1]
    secret = as_principal(with_it, user).kafka_password_file
    assert secret is not None and secret.exists()

    without = with_it.model_copy(update={"agencies_file": None})  # the agency left the registry
    report = await provision(without, [])
    assert report.users_removed == [user]
    assert check(without, user) == (False, [])
    assert not secret.exists()
    assert check(other, agency_user(other, "pln"))[0]  # other deployments' agencies stay
    assert check(without, agency_user(without, "pln")) == (False, [])  # never provisioned here


async def test_each_channel_reads_only_its_own_replies_and_speaks_only_for_its_reporters(
        deployment: Settings) -> None:
    """An SMS reply may carry a sender's number: no other channel may read it. A reporter's
    status goes through the channel that carries it, and a channel speaks for no other."""
    admin = deployment
    web = as_principal(admin, channel_user(admin, "web"))
    sms = as_principal(admin, channel_user(admin, "sms"))
    await produce(admin, notifications_topic_name("sms"), [(b"k", b"an sms reply")])
    await produce(admin, notifications_topic_name("web"), [(b"k", b"a web reply")])
    assert [r.value for r in await consume(sms, notifications_topic_name("sms"), expected=1,
                                           quiet_s=0.5)] == [b"an sms reply"]
    assert [r.value for r in await consume(web, notifications_topic_name("web"), expected=1,
                                           quiet_s=0.5)] == [b"a web reply"]
    with pytest.raises(TopicAuthorizationFailedError):
        await consume(web, notifications_topic_name("sms"), timeout_s=10)
    reply = json.dumps({"event_id": "r-1", "complaint_id": CID, "status": "reporter_replied",
                        "at": "2026-03-02T09:15:00+07:00"}).encode()
    await produce(web, reporter_status_topic_name("web"), [(CID.encode(), reply)])  # its own
    with pytest.raises(TopicAuthorizationFailedError):
        await produce(web, reporter_status_topic_name("sms"), [(CID.encode(), reply)])
    with pytest.raises(TopicAuthorizationFailedError):
        await produce(web, STATUS, [(CID.encode(), reply)])


async def test_only_the_judge_writes_statuses_and_only_the_gate_claims(deployment: Settings) -> None:
    """The SLA monitor's auto-close goes to its own topic, which only the gate reads."""
    admin = deployment
    sla = as_principal(admin, service_user(admin, "sla_monitor"))
    for judged_only in (STATUS, CLAIMS):
        with pytest.raises(TopicAuthorizationFailedError):
            await produce(sla, judged_only, [status(None)])
    await produce(sla, CLOSURES, [status(None)])  # allowed: the gate passes on an auto-close
    for user in (agency_user(admin, "pln"), channel_user(admin, "web")):
        with pytest.raises(TopicAuthorizationFailedError):
            await consume(as_principal(admin, user), CLOSURES, timeout_s=10)


async def test_agencies_whose_ids_share_a_prefix_stay_apart_on_the_broker(
        broker_settings: Settings) -> None:
    """`pemda-32` (a province) and `pemda-32-73` (a city in it): Kafka's own matching of the
    provisioned ACLs keeps each to its topics and consumer groups, in both directions."""
    from aiokafka import AIOKafkaConsumer
    from aiokafka.errors import GroupAuthorizationFailedError

    from services.runtime.kafka_client import aiokafka_options

    admin = isolated(broker_settings)
    pair = ["pemda-32", "pemda-32-73"]
    await provision(admin, pair)
    for me, other in (pair, pair[::-1]):
        mine = as_principal(admin, agency_user(admin, me))
        await produce(admin, agency_topic_name(me), [(b"k", me.encode())])
        assert [r.value for r in await consume(mine, agency_topic_name(me), expected=1,
                                               quiet_s=0.5)] == [me.encode()]
        with pytest.raises(TopicAuthorizationFailedError):
            await consume(mine, agency_topic_name(other), timeout_s=10)
        with pytest.raises(TopicAuthorizationFailedError):
            await produce(mine, agency_status_topic_name(other), [status(other)])
        for group, allowed in ((f"agency.{me}.inbox", True), (f"agency.{other}.inbox", False)):
            consumer = AIOKafkaConsumer(admin.topic(agency_topic_name(me)), **aiokafka_options(mine),
                                        group_id=admin.topic(group), auto_offset_reset="earliest")
            try:
                if allowed:
                    await consumer.start()
                    assert (await consumer.getone()).value == me.encode()
                else:
                    with pytest.raises(GroupAuthorizationFailedError):
                        await consumer.start()
                        await asyncio.wait_for(consumer.getone(), 20)
            finally:
                await consumer.stop()
