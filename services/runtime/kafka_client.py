"""How every client of this project reaches the cluster: one place turns the settings into
connection options (SASL/SCRAM over TLS in every deployment, plain only on a development
broker that was asked for it), for aiokafka, faust and librdkafka alike.

The password is read from `LAPOR_KAFKA_PASSWORD_FILE` when a client is made: it is never a
setting, so it never appears where settings are printed or logged.
"""

from __future__ import annotations

import asyncio
import ssl
from functools import lru_cache
from pathlib import Path
from typing import Any

from services.runtime.settings import Settings


class KafkaAccessError(RuntimeError):
    """The settings cannot make an authenticated client; the message says what to set."""


def password(settings: Settings) -> str:
    if settings.kafka_user is None:
        raise KafkaAccessError(
            "LAPOR_KAFKA_USER is not set: the cluster needs a principal (SCRAM user) and "
            "LAPOR_KAFKA_PASSWORD_FILE; `lapor access provision` makes them, or set "
            "LAPOR_KAFKA_SECURITY=PLAINTEXT for a broker started with --insecure-plain"
        )
    path = settings.kafka_password_file
    if path is None:
        raise KafkaAccessError(f"LAPOR_KAFKA_PASSWORD_FILE is not set for user {settings.kafka_user}")
    try:
        secret = path.read_text(encoding="utf-8").splitlines()[0].strip()
    except (OSError, IndexError):
        raise KafkaAccessError(f"cannot read a password from LAPOR_KAFKA_PASSWORD_FILE={path}") from None
    if not secret:
        raise KafkaAccessError(f"LAPOR_KAFKA_PASSWORD_FILE={path} is empty")
    return secret


@lru_cache(maxsize=8)
def _tls(ca_file: Path | None) -> ssl.SSLContext:
    try:
        return ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    except (OSError, ssl.SSLError) as exc:
        raise KafkaAccessError(f"LAPOR_KAFKA_CA_FILE={ca_file}: {exc}") from None


def tls_context(settings: Settings) -> ssl.SSLContext:
    return _tls(settings.kafka_ca_file)


def aiokafka_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for any aiokafka client (producer, consumer, admin, client)."""
    options: dict[str, Any] = {"bootstrap_servers": settings.bootstrap_servers}
    if settings.kafka_security == "PLAINTEXT":
        return options
    return {
        **options,
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": settings.kafka_sasl_mechanism,
        "sasl_plain_username": settings.kafka_user,
        "sasl_plain_password": password(settings),
        "ssl_context": tls_context(settings),
    }


def faust_credentials(settings: Settings) -> Any:
    """`broker_credentials` of a faust app (None on a plain development broker)."""
    if settings.kafka_security == "PLAINTEXT":
        return None
    import faust

    return faust.SASLCredentials(username=settings.kafka_user, password=password(settings),
                                 ssl_context=tls_context(settings),
                                 mechanism=settings.kafka_sasl_mechanism)


def librdkafka_config(settings: Settings) -> dict[str, str]:
    """Configuration of a confluent-kafka (librdkafka) client: the access tool's admin."""
    config = {"bootstrap.servers": settings.bootstrap_servers}
    if settings.kafka_security == "PLAINTEXT":
        return config
    config.update({
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": settings.kafka_sasl_mechanism,
        "sasl.username": settings.kafka_user or "",
        "sasl.password": password(settings),
    })
    if settings.kafka_ca_file is not None:
        config["ssl.ca.location"] = str(settings.kafka_ca_file)
    return config


async def connection_problem(settings: Settings) -> str | None:
    """Why a client cannot connect, in words (None when the first broker lets it in): what
    a CLI prints instead of aiokafka's "Unable to bootstrap"."""
    from aiokafka.conn import create_conn
    from aiokafka.errors import KafkaError, SaslAuthenticationFailed

    host, _, port = settings.bootstrap_servers.split(",")[0].strip().rpartition(":")
    options = aiokafka_options(settings)
    options.pop("bootstrap_servers")
    try:
        conn = await create_conn(host, int(port), request_timeout_ms=10_000, **options)
    except SaslAuthenticationFailed:
        return (f"authentication failed for LAPOR_KAFKA_USER={settings.kafka_user}: wrong password "
                "(LAPOR_KAFKA_PASSWORD_FILE) or unknown user")
    except ssl.SSLError as exc:
        return f"TLS with {host}:{port} failed ({exc.reason}); is LAPOR_KAFKA_CA_FILE the cluster's CA?"
    except (OSError, KafkaError, asyncio.TimeoutError) as exc:
        return f"no Kafka broker answers at {host}:{port} ({type(exc).__name__})"
    conn.close()
    return None
