"""The faust app factory shared by the services: one place for Kafka and store settings."""

from __future__ import annotations

from typing import Any

import faust

from faust.types import ConsumerT

from services.common.faust_consumer import GuardedConsumer
from services.common.faust_recovery import SeekFirstTableManager
from services.common.settings import Settings


class LaporApp(faust.App):
    """faust.App with the consumer fixes of `faust_consumer` (restarts must not skip input)."""

    def _new_consumer(self) -> ConsumerT:
        return GuardedConsumer(
            self.transport,
            callback=self.topics.on_message,
            on_partitions_revoked=self._on_partitions_revoked,
            on_partitions_assigned=self._on_partitions_assigned,
            beacon=self.beacon,
            loop=self.transport.loop,
        )


def make_app(service: str, settings: Settings, **overrides: Any) -> faust.App:
    """A faust app with a fixed id per service.

    The id (with the deployment prefix) and version name the changelog topics and the
    consumer group: they are chosen once and must not change, or state is lost.
    Processing is at-least-once; every produced event carries a deterministic id instead.
    """
    datadir = settings.data_dir / service
    datadir.mkdir(parents=True, exist_ok=True)
    options: dict[str, Any] = dict(
        version=1,
        broker=[f"kafka://{h.strip()}" for h in settings.bootstrap_servers.split(",")],
        store=settings.store,
        datadir=str(datadir),
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        processing_guarantee="at_least_once",
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        web_enabled=settings.web_enabled,
        web_port=settings.web_port,
        web_bind=settings.web_host,
        web_host=settings.web_host,
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=max(1.0, settings.session_timeout_s / 10),
        broker_commit_every=100,
        broker_commit_interval=1.0,
        table_standby_replicas=0,
        logging_config=None,
        TableManager=SeekFirstTableManager,
    )
    options.update(overrides)
    return LaporApp(f"{settings.topic_prefix}lapor-{service}", **options)


def raw_topic(app: faust.App, settings: Settings, name: str) -> Any:
    """A contract topic read and written as raw bytes: parsing is ours, so that bad input
    becomes a dead letter instead of a faust deserialisation crash."""
    return app.topic(
        settings.topic(name),
        key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw",
        partitions=settings.partitions, acks=True,
    )
