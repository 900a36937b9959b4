"""Client credentials come from settings and a password file, and never show in settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.runtime.kafka_client import KafkaAccessError, aiokafka_options, librdkafka_config
from services.runtime.settings import Settings
from services.tools.broker_security import AUTHORIZER, listener_properties


def test_a_client_authenticates_with_the_password_files_first_line(tmp_path: Path) -> None:
    secret = tmp_path / "svc.secret"
    secret.write_text("s3cret-value\nignored\n")
    settings = Settings(kafka_user="svc-router", kafka_password_file=secret, bootstrap_servers="k:9093")
    options = aiokafka_options(settings)
    assert (options["security_protocol"], options["sasl_mechanism"], options["sasl_plain_username"],
            options["sasl_plain_password"]) == ("SASL_SSL", "SCRAM-SHA-512", "svc-router", "s3cret-value")
    assert librdkafka_config(settings)["sasl.password"] == "s3cret-value"
    assert "s3cret-value" not in repr(settings) + str(settings.model_dump())


def test_missing_credentials_are_a_clear_error_not_an_anonymous_client(tmp_path: Path) -> None:
    with pytest.raises(KafkaAccessError, match="LAPOR_KAFKA_USER is not set"):
        aiokafka_options(Settings())
    with pytest.raises(KafkaAccessError, match="LAPOR_KAFKA_PASSWORD_FILE is not set"):
        aiokafka_options(Settings(kafka_user="agency-pln"))
    with pytest.raises(KafkaAccessError, match="cannot read a password"):
        aiokafka_options(Settings(kafka_user="agency-pln", kafka_password_file=tmp_path / "none"))
    plain = aiokafka_options(Settings(kafka_security="PLAINTEXT", bootstrap_servers="k:9092"))
    assert plain == {"bootstrap_servers": "k:9092"}


def test_the_broker_denies_by_default_and_trusts_only_the_operator_and_brokers(tmp_path: Path) -> None:
    settings = Settings(access_dir=tmp_path / "access")
    props = dict(line.split("=", 1) for line in
                 listener_properties(settings, "127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3", "127.0.0.1:1"))
    assert props["listener.security.protocol.map"] == "CLIENT:SASL_SSL,REPLICATION:SSL,CONTROLLER:SSL"
    assert props["listener.name.client.sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert props["authorizer.class.name"] == AUTHORIZER
    assert props["allow.everyone.if.no.acl.found"] == "false"
    assert props["super.users"] == "User:lapor-admin;User:CN=lapor-broker"
    assert props["listener.name.controller.ssl.client.auth"] == "required"
    assert (tmp_path / "access" / "secrets" / "lapor-admin.secret").stat().st_mode & 0o077 == 0
    plain = listener_properties(settings.model_copy(update={"kafka_security": "PLAINTEXT"}),
                                "127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3", "127.0.0.1:1")
    assert not any("authorizer" in line or "sasl" in line for line in plain)
