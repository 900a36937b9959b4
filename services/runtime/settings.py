"""One settings object for every service, read from ``LAPOR_*`` environment variables.

Everything a deployment changes lives here, so the same code runs against the embedded
test broker and against a multi-broker production cluster.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LAPOR_", extra="ignore")

    # --- Kafka ----------------------------------------------------------------------
    bootstrap_servers: str = Field(
        "127.0.0.1:9092", description="Comma-separated host:port list of the Kafka cluster."
    )
    topic_prefix: str = Field("", description="Prepended to every topic name, e.g. 'staging.'.")
    partitions: int = Field(
        4, ge=1, description="Partitions of every contract topic (co-partitioned ones alike)."
    )
    replication_factor: int = Field(1, ge=1, description="Replication factor of created topics.")
    input_retention_days: int = Field(
        400,
        ge=1,
        description="Retention of input and event topics; well past 60 working days so that "
        "state can be rebuilt by replay.",
    )
    notifications_retention_days: int = Field(
        30,
        ge=1,
        description="Retention of the complaints.notifications.<channel>.v1 topics: it holds reply addresses (an "
        "SMS sender's number, anonymous ones included) and only has to outlive a channel's "
        "delivery retries.",
    )

    kafka_security: Literal["SASL_SSL", "PLAINTEXT"] = Field(
        "SASL_SSL", description="How clients reach the cluster: SASL/SCRAM over TLS, or plain "
        "(only a development broker started with `--insecure-plain`).",
    )
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512"] = Field(
        "SCRAM-SHA-512", description="SASL mechanism of the cluster's client listener.")
    kafka_user: str | None = Field(None, description="This process's principal (SCRAM user).")
    kafka_password_file: Path | None = Field(
        None, description="File holding the principal's password (its first line); the "
        "password itself is never a setting, so it is never printed with them.",
    )
    kafka_ca_file: Path | None = Field(
        None, description="PEM file of the CA that signed the brokers' certificates (else the "
        "system's trust store).",
    )
    access_dir: Path = Field(
        Path(".lapor/access"), description="Where `lapor access provision` writes the secrets "
        "it creates, and the embedded broker its certificates and admin secret.",
    )

    broker_wait_s: float = Field(
        300.0, ge=0, description="How long a worker starting up waits for the cluster to answer "
        "(bounded backoff, a log line each try) before it exits with an error.",
    )

    # --- faust ----------------------------------------------------------------------
    store: str = Field(
        "memory://", description="faust table store: 'memory://' or 'rocksdb://' (production)."
    )
    standby_replicas: int = Field(
        0, ge=0, description="Standby copies of each table partition kept warm on other workers "
        "of the service: a worker that takes over a dead one's partitions reads only the "
        "changelog written since, not all of it (1 in production with two or more workers).",
    )
    data_dir: Path = Field(Path(".lapor/data"), description="faust data directory (RocksDB).")
    session_timeout_s: float = Field(
        30.0, gt=1, description="Consumer session timeout: how soon a dead worker's partitions "
        "move to the others.",
    )
    batch_max: int = Field(
        500, ge=1, description="Most input records a worker handles in one batch (one ack wait)."
    )
    batch_within_ms: float = Field(
        10.0, gt=0, description="Longest a batch stays open after its first record: under load, "
        "when records keep coming, this bounds the batch (and what waits for its acks).",
    )
    batch_idle_ms: float = Field(
        1.0, gt=0, description="A batch closes early once no record has come for this long: "
        "about what a lone complaint waits at each stage at low load.",
    )
    web_enabled: bool = Field(True, description="Serve the faust web view and /metrics.")
    web_port: int = Field(6066, description="Port of the faust web view of a worker.")
    web_host: str = Field("127.0.0.1", description="Bind address of the faust web view.")

    # --- ops_view (the operations page) -------------------------------------------------
    ops_host: str = Field("127.0.0.1", description="Bind address of the operations page: "
                          "this machine only unless opened wider (e.g. 0.0.0.0 behind a proxy).")
    ops_port: int = Field(8070, description="Port of the operations page (and `lapor show`).")
    ops_allowed_hosts: str = Field(
        "", description="Comma-separated host names the operations page answers to (its `Host` "
        "header, port aside); empty: LAPOR_OPS_HOST and localhost. Any other host is refused, "
        "so a page on another site cannot read it through DNS rebinding.")
    ops_streams_per_client: int = Field(
        4, ge=1, description="Live streams (/events) one client address may hold open at once.")
    lacak_host: str = Field("127.0.0.1", description="Bind address of the public tracking page "
                            "(lacak): it may face the internet, behind a TLS proxy.")
    lacak_port: int = Field(8073, description="Port of the public tracking page.")
    lacak_allowed_hosts: str = Field(
        "", description="Comma-separated host names the tracking page answers to; empty: "
        "LAPOR_LACAK_HOST and localhost.")
    lacak_per_minute: int = Field(30, ge=1, description="Tracking requests one client address "
                                  "may make a minute (a burst of as many, then that rate). The "
                                  "address is X-Forwarded-For's from LAPOR_TRUSTED_PROXIES; an "
                                  "IPv6 client's /64 counts as one.")
    lacak_global_per_minute: int = Field(
        3000, ge=1, description="Tracking requests all clients together may make a minute: "
        "many addresses walking ids at once are slowed down as a whole.")
    lacak_closed_days: int = Field(30, ge=1, description="Days a closed complaint stays on the "
                                   "tracking page (lacak), by event time; then it is forgotten.")
    ops_timeline_days: int = Field(30, ge=1, description="Days a closed complaint's timeline "
                                   "stays on the operations page.")
    ops_compliance_days: int = Field(400, ge=1, description="Days an agency-day's compliance "
                                     "figures stay on the operations page.")

    # --- intake ---------------------------------------------------------------------
    complaint_id_key_file: Path | None = Field(
        None, description="File (0600) holding the deployment's tracking-id key (its first "
        "line, at least 32 characters; `lapor complaint-id-key FILE` writes one): complaint ids "
        "are an HMAC of (channel, submission id) under it, so one cannot be guessed from another. Intake refuses to start without it. Never "
        "change it (a re-sent submission would get another id) and back it up like the CA.")
    max_message_bytes: int = Field(
        256 * 1024, ge=1024, description="Inputs larger than this are dead-lettered."
    )
    dedup_retention_days: int = Field(
        400, ge=1, description="How long a submission is remembered for duplicate detection."
    )
    classification_file: Path | None = Field(
        None, description="Replace the shipped keyword rules of classification (YAML)."
    )

    # --- router ---------------------------------------------------------------------
    routes_file: Path | None = Field(None, description="Replace the shipped routing rules.")
    agencies_file: Path | None = Field(
        None, description="Extra national agencies (YAML) added to the shipped registry."
    )
    max_refusals: int = Field(
        3, ge=1, description="After this many 'not_our_authority' the complaint is triaged."
    )

    # --- bridge (agencies' own systems over HTTP) -------------------------------------
    bridge_file: Path | None = Field(
        None, description="The bridge's agencies (YAML): endpoint, mode (webhook or open311), "
        "secret file, rate limit; checked whole when the bridge starts.")
    bridge_host: str = Field("127.0.0.1", description="Bind address of the bridge's inbound "
                             "endpoint (agencies post their statuses there).")
    bridge_port: int = Field(8072, description="Port of the bridge's inbound endpoint.")

    # --- staff sign-in (OpenID Connect) and the agency desk ---------------------------
    oidc_issuer: str | None = Field(None, description="Issuer URL of the OpenID Connect "
                                    "provider staff sign in with (its discovery document is "
                                    "<issuer>/.well-known/openid-configuration). Unset: the desk "
                                    "does not start and the operations page has no sign-in, so "
                                    "it must stay on a loopback address.")
    oidc_internal_url: str | None = Field(None, description="Where the workers reach the "
                                          "provider, when not at the issuer's own address (compose: "
                                          "http://keycloak:8080, while browsers use the issuer's).")
    oidc_client_id: str = Field("lapor-staff", description="This deployment's client at the provider.")
    oidc_client_secret_file: Path | None = Field(None, description="File (0600) holding the "
                                                 "client's secret.")
    oidc_groups_claim: str = Field("groups", description="The ID token claim listing the "
                                   "user's groups.")
    staff_group_root: str = Field("/lapor", pattern=r"^(/[^/]+)*$", description="The provider "
                                  "group under which the role groups are, as a path (`/lapor`; "
                                  "empty: top-level groups). Roles come from full paths only.")
    staff_operator_group: str = Field("national-operator", description="The provider group "
                                      "whose members are national operators.")
    staff_agency_prefix: str = Field("agency-", description="A provider group `<prefix><agency "
                                     "id>` makes its members that agency's staff.")
    staff_session_key_file: Path | None = Field(None, description="File (0600) holding the "
                                                "32-byte key (urlsafe base64) that encrypts staff "
                                                "session cookies; every desk and ops_view worker of "
                                                "a deployment shares it. Unset: a key per process, "
                                                "so a restart signs everybody out.")
    staff_session_hours: float = Field(8.0, gt=0, description="A staff session lasts this long.")
    staff_cookie_secure: bool = Field(True, description="Session cookies only over HTTPS "
                                      "(browsers treat http://localhost and 127.0.0.1 as secure).")
    trusted_proxies: str = Field(
        "", description="Comma-separated addresses or networks of the reverse proxies in front "
        "of the web sites (e.g. 172.18.0.0/16): only from them is X-Forwarded-For believed (the "
        "client address for lacak's budgets and the logs). Empty: no proxy is trusted.")
    desk_public_url: str = Field(
        "", description="The desk's address as browsers see it (e.g. https://desk.lapor.go.id), "
        "behind a TLS proxy: its origin checks forms and makes the sign-in's redirect URI "
        "(register <url>/auth/callback with the provider). Empty: taken from the request.")
    ops_public_url: str = Field(
        "", description="The operations page's address as browsers see it; as "
        "LAPOR_DESK_PUBLIC_URL.")
    lacak_public_url: str = Field(
        "", description="The tracking page's address as reporters see it (e.g. "
        "https://lacak.lapor.go.id): where `lapor proxy config` publishes it. The page itself "
        "needs no origin (no sign-in, GET only).")
    bridge_public_url: str = Field(
        "", description="The bridge's inbound door as agencies' systems reach it (e.g. "
        "https://agencies.lapor.go.id): where `lapor proxy config` publishes it (statuses in, "
        "POST /agencies/<id>/statuses).")
    desk_session_key_file: Path | None = Field(
        None, description="The desk's own session key (as LAPOR_STAFF_SESSION_KEY_FILE): with "
        "it, a desk's key cannot make operations-page sessions. Unset: the staff key.")
    ops_session_key_file: Path | None = Field(
        None, description="The operations page's own session key; as LAPOR_DESK_SESSION_KEY_FILE.")
    desk_host: str = Field("127.0.0.1", description="Bind address of the agency desk.")
    desk_port: int = Field(8074, description="Port of the agency desk.")
    desk_allowed_hosts: str = Field("", description="Comma-separated host names the desk answers "
                                    "to; empty: LAPOR_DESK_HOST and localhost.")
    desk_closed_days: int = Field(30, ge=1, description="Days a closed complaint stays in the "
                                  "desk (then it is forgotten; its history is on the topics).")

    # --- SLA ------------------------------------------------------------------------
    calendar_file: Path | None = Field(
        None, description="YAML with dates added to or removed from the holiday calendar."
    )
    sla_policy_file: Path | None = Field(
        None, description="YAML overriding clock limits per agency."
    )
    closed_grace_days: int = Field(
        10, ge=1, description="Working days after a complaint is closed before the router and the "
        "SLA monitor delete its state (until then late statuses and duplicates still find it "
        "closed).",
    )
    sla_pending_max_hours: float = Field(
        24.0, gt=0, description="How long (event time) a routed or status event read before its "
        "complaint waits for it; then it is dead-lettered (complaint_never_accepted).",
    )
    # 10 minutes: a status given before a moment can reach the monitor after a tick past it
    # when a worker restarts or its group rebalances (a session timeout of 30 s, a broker
    # wait of up to 5 min) or an agency's link is slow; ten minutes covers those, and an
    # escalation ten minutes after its moment costs nothing against limits counted in working
    # days (moments fall at 00:00 local, when nobody acts on them before morning).
    sla_allowed_lateness_minutes: float = Field(
        10.0, ge=0, description="How far (event time) the ticks must pass a moment before the SLA "
        "monitor fires it: a status given before the moment and read within this lateness still "
        "stops or pauses its clock and prevents the escalation; one read later still moves the "
        "clock from its `at`, but an escalation already emitted stays (a late status, logged).",
    )
    tick_interval_s: float = Field(5.0, gt=0, description="Seconds between live ticks.")

    # --- embedded broker ------------------------------------------------------------
    kafka_version: str = Field("4.1.1", description="Apache Kafka version of the embedded broker.")
    broker_cache: Path = Field(
        Path.home() / ".cache" / "lapor-router",
        description="Where the broker's jars are cached (outside git).",
    )
    broker_dir: Path = Field(Path(".lapor/broker"), description="Embedded broker state/logs.")
    broker_port: int = Field(9092, description="Embedded broker's client port on 127.0.0.1.")

    log_level: str = Field("INFO", description="Log level of the services.")

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"

    def ops_hosts(self) -> frozenset[str]:
        """The host names the operations page answers to (LAPOR_OPS_ALLOWED_HOSTS)."""
        given = {h.strip().lower() for h in self.ops_allowed_hosts.split(",") if h.strip()}
        return frozenset(given or {self.ops_host.lower(), "localhost"})

    def desk_hosts(self) -> frozenset[str]:
        """The host names the agency desk answers to (LAPOR_DESK_ALLOWED_HOSTS)."""
        given = {h.strip().lower() for h in self.desk_allowed_hosts.split(",") if h.strip()}
        return frozenset(given or {self.desk_host.lower(), "localhost"})

    def lacak_hosts(self) -> frozenset[str]:
        """The host names the tracking page answers to (LAPOR_LACAK_ALLOWED_HOSTS)."""
        given = {h.strip().lower() for h in self.lacak_allowed_hosts.split(",") if h.strip()}
        return frozenset(given or {self.lacak_host.lower(), "localhost"})

    def environment(self) -> dict[str, str]:
        """The environment of a child process (a worker, the ticker, the CLI) that runs with
        exactly these settings: this process's variables, its own LAPOR_* replaced."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("LAPOR_")}
        env.update({f"LAPOR_{name.upper()}": str(value)
                    for name, value in self.model_dump().items() if value is not None})
        return env


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
