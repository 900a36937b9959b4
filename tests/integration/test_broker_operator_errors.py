"""Where an operator trips over the embedded broker, a clear message at once; and the files
that hold its passwords readable by their owner only, with no password on a command line."""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from services.runtime.settings import Settings
from services.tools import broker
from services.tools.access import AccessError, provision
from services.tools.broker_security import (
    SecuritySetupError, ensure_files, hand_out, secret_file, write_secret,
)


def owner_only(path: Path) -> bool:
    return stat.S_IMODE(path.stat().st_mode) & 0o077 == 0


def test_files_holding_passwords_or_keys_are_readable_by_their_owner_only(tmp_path: Path) -> None:
    settings = Settings(access_dir=tmp_path / "access", broker_dir=tmp_path / "broker")
    sec = ensure_files(settings, ("kafka",))
    for path in (sec.keystore, sec.keystore_password_file, sec.admin_secret,
                 sec.directory / "ca" / "ca.key", sec.directory / "ca" / "broker.key"):
        assert owner_only(path), f"{path} is {oct(path.stat().st_mode)}"
    assert not owner_only(sec.ca_cert)  # the CA certificate is public: clients need it
    # `lapor broker certs --broker-files`: what the compose deployment's broker mounts
    node = tmp_path / "node"
    props = node / "server.properties"
    env = settings.environment()
    made = subprocess.run([sys.executable, "-m", "services.tools.cli", "broker", "certs",
                           "--host", "kafka", "--broker-files", str(tmp_path / "node")],
                          capture_output=True, text=True, env=env, timeout=60)
    assert made.returncode == 0, made.stderr
    assert sorted(p.name for p in node.iterdir()) == ["broker.p12", "ca.pem", "server.properties"]
    assert owner_only(props) and owner_only(node / "broker.p12")
    text = props.read_text()
    assert "ssl.keystore.password=" in text
    assert f"ssl.keystore.location={node / 'broker.p12'}" in text
    assert f"ssl.truststore.location={node / 'ca.pem'}" in text
    assert "advertised.listeners=CLIENT://kafka:" in text
    # The CERTS listener (client certificates, for clients that cannot do SCRAM): port + 3.
    assert "CERTS://kafka:9095" in text and "listener.name.certs.ssl.client.auth=required" in text


def test_storage_is_formatted_with_no_password_on_the_command_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What `ps` would show of the StorageTool's process: no password; its argument file
    is private while it runs and gone after."""
    settings = Settings(access_dir=tmp_path / "access")
    secret = ensure_files(settings).admin_secret.read_text().strip()
    seen: dict[str, object] = {}

    def fake_run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        argfile = Path(cmd[-1].removeprefix("@"))
        seen.update(cmd=cmd, private=owner_only(argfile), text=argfile.read_text())
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(subprocess, "run", fake_run)
    broker.format_storage(settings, tmp_path, "cluster-id", tmp_path / "server.properties", tmp_path)
    assert secret not in " ".join(seen["cmd"])  # type: ignore[arg-type]
    assert seen["private"] is True
    assert f"password={secret}" in str(seen["text"])
    assert not (tmp_path / "format.args").exists()


def test_a_broker_started_with_another_access_directory_says_so_at_once(tmp_path: Path) -> None:
    first = Settings(broker_dir=tmp_path / "broker", access_dir=tmp_path / "access-a")
    broker.start(first, port=broker.free_port(), timeout_s=120)
    broker.stop(first)
    other = first.model_copy(update={"access_dir": tmp_path / "access-b"})
    started = time.monotonic()
    with pytest.raises(broker.BrokerError, match="another operator credential") as refused:
        broker.start(other, port=broker.free_port(), timeout_s=120)
    assert "LAPOR_ACCESS_DIR" in str(refused.value)
    assert broker.running_pid(other) is None  # refused before a broker process was started
    assert time.monotonic() - started < 30  # not the 120 s wait for a broker that refuses us
    # The directory it was made with still opens it.
    broker.start(first, port=broker.free_port(), timeout_s=120)
    broker.stop(first)


def test_provisioning_a_cluster_without_an_authoriser_says_so_in_one_line(tmp_path: Path) -> None:
    plain = Settings(broker_dir=tmp_path / "plain", access_dir=tmp_path / "access",
                     kafka_security="PLAINTEXT")
    bootstrap = broker.start(plain, port=broker.free_port(), timeout_s=120)
    try:
        settings = plain.model_copy(update={"bootstrap_servers": bootstrap})
        with pytest.raises(AccessError) as refused:
            asyncio.run(provision(settings, []))
        message = str(refused.value)
        assert "has no authoriser" in message and "\n" not in message
        assert not (tmp_path / "access" / "secrets").exists()  # refused before any change
        env = settings.environment()
        cli = subprocess.run([sys.executable, "-m", "services.tools.cli", "access", "provision",
                              "--agency", "pln"],
                             capture_output=True, text=True, env=env, timeout=120)
        assert cli.returncode == 2
        assert cli.stderr.strip().count("\n") == 0 and "has no authoriser" in cli.stderr
        assert "Traceback" not in cli.stderr
    finally:
        broker.stop(plain)


def test_a_hand_out_holds_one_principal_s_secret_and_the_ca_certificate_only(tmp_path: Path) -> None:
    settings = Settings(access_dir=tmp_path / "access")
    ensure_files(settings)
    for user in ("svc-intake", "svc-router"):
        write_secret(secret_file(settings.access_dir, user), f"secret-of-{user}")
    placed = hand_out(settings, "svc-intake", tmp_path / "intake")
    assert sorted(p.name for p in (tmp_path / "intake").iterdir()) == ["ca.pem", "svc-intake.secret"]
    assert placed.read_text().strip() == "secret-of-svc-intake" and owner_only(placed)
    assert (tmp_path / "intake" / "ca.pem").read_bytes() == (settings.access_dir / "ca.pem").read_bytes()
    with pytest.raises(SecuritySetupError, match="no secret for svc-nobody"):
        hand_out(settings, "svc-nobody", tmp_path / "nobody")
