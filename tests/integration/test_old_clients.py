"""An agency's own Kafka client that cannot do SCRAM with Kafka 4 (Debian 12's kcat, with
librdkafka 2.0.2: librdkafka#4895) logs in with a client certificate from `lapor access
issue-cert`, on the broker's CERTS listener. As a real old client it reads its own topic,
writes its own statuses, is refused another agency's (ids sharing a prefix), and may do
nothing once its certificate is revoked, while the agency's SCRAM login stays as it was."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from pathlib import Path

from services.runtime.settings import Settings
from services.runtime.topics import agency_status_topic_name, agency_topic_name
from services.tools import broker
from services.tools.access import issue_certificate, revoke_certificate
from services.tools.access_plan import agency_user
from tests.examples import CID, VALID
from schemas import AgencyComplaint
from tests.kafka_helpers import as_principal, consume, create_contract_topics, isolated, produce

REFUSED = "Topic authorization failed"


def kcat(base: list[str], *args: str, data: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*base, *args], input=data, capture_output=True, text=True, timeout=60)


async def test_an_old_kcat_logs_in_with_a_certificate(broker_settings: Settings, tmp_path: Path) -> None:
    assert shutil.which("kcat"), "kcat is missing: scripts/setup installs it from Debian"
    version = subprocess.run(["kcat", "-V"], capture_output=True, text=True).stdout
    assert "librdkafka 2.0.2" in version  # the old client this test is about
    settings = isolated(broker_settings)
    await create_contract_topics(settings, ["pemda-32", "pemda-32-73"])
    for agency in ("pemda-32", "pemda-32-73"):
        body = {**VALID[AgencyComplaint], "event_id": f"for-{agency}", "agency_id": agency}
        await produce(settings, agency_topic_name(agency), [(CID.encode(), json.dumps(body).encode())])
    user = agency_user(settings, "pemda-32")
    cert, files = await asyncio.to_thread(issue_certificate, settings, user, tmp_path / "certs")
    assert cert.principal.startswith(f"{user}.tls-") and files["key"].stat().st_mode & 0o077 == 0
    port = broker.cert_port(broker_settings)
    assert port is not None
    base = ["kcat", "-b", f"127.0.0.1:{port}", "-X", "security.protocol=ssl",
            "-X", f"ssl.ca.location={files['ca']}", "-X", f"ssl.certificate.location={files['cert']}",
            "-X", f"ssl.key.location={files['key']}"]
    own, other = settings.topic(agency_topic_name("pemda-32")), settings.topic(agency_topic_name("pemda-32-73"))

    read = kcat(base, "-C", "-t", own, "-o", "beginning", "-e", "-q")
    assert read.returncode == 0, read.stderr
    assert [json.loads(line)["event_id"] for line in read.stdout.splitlines()] == ["for-pemda-32"]
    refused = kcat(base, "-C", "-t", other, "-o", "beginning", "-e", "-q")
    assert refused.returncode != 0 and REFUSED in refused.stderr, refused.stderr
    assert "for-pemda-32-73" not in refused.stdout

    status = {"event_id": "kcat-ack-1", "complaint_id": CID, "status": "acknowledged",
              "at": "2026-03-02T10:00:00+07:00"}
    wrote = kcat(base, "-P", "-t", settings.topic(agency_status_topic_name("pemda-32")), "-k", CID,
                 data=json.dumps(status) + "\n")
    assert wrote.returncode == 0, wrote.stderr
    forged = kcat(base, "-P", "-t", settings.topic(agency_status_topic_name("pemda-32-73")), "-k", CID,
                  data=json.dumps(status) + "\n")
    assert REFUSED in forged.stderr, forged.stderr
    written = await consume(settings, agency_status_topic_name("pemda-32"), expected=1, quiet_s=0.5)
    assert [json.loads(r.value)["event_id"] for r in written] == ["kcat-ack-1"]
    # pemda-32-73's own status is the marker on its topic: the refused write left nothing.
    marker = {**status, "event_id": "pemda-32-73-own-1"}
    await produce(as_principal(settings, agency_user(settings, "pemda-32-73")),
                  agency_status_topic_name("pemda-32-73"), [(CID.encode(), json.dumps(marker).encode())])
    theirs = await consume(settings, agency_status_topic_name("pemda-32-73"), expected=1, quiet_s=0.5)
    assert [json.loads(r.value)["event_id"] for r in theirs] == ["pemda-32-73-own-1"]

    await asyncio.to_thread(revoke_certificate, settings, cert.principal)
    after = kcat(base, "-C", "-t", own, "-o", "beginning", "-e", "-q")
    assert after.returncode != 0 and REFUSED in after.stderr, after.stderr
    # The agency's SCRAM login (current clients) is untouched by the certificate's revocation.
    scram = await consume(as_principal(settings, user), agency_topic_name("pemda-32"), expected=1, quiet_s=0.5)
    assert [json.loads(r.value)["event_id"] for r in scram] == ["for-pemda-32"]
