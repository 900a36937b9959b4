"""The embedded single-node Apache Kafka (KRaft) broker for tests, the demo and a laptop.

Its jars are fetched from Maven Central with Maven (Java 17 is enough for Kafka 4.x), cached
outside git, and it runs from them as a plain ``java`` process on 127.0.0.1. Production uses
an existing cluster instead: only ``LAPOR_BOOTSTRAP_SERVERS`` changes.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from services.runtime.kafka_client import aiokafka_options
from services.runtime.settings import Settings
from services.tools.broker_security import (
    BrokerSecurity, admin_settings, fingerprint, format_arguments, listener_properties, write_private,
)


class BrokerError(RuntimeError):
    """The embedded broker could not be fetched or started; the message says what to do."""


@dataclass(frozen=True)
class BrokerPaths:
    lib: Path
    state: Path

    @property
    def pid_file(self) -> Path:
        return self.state / "broker.pid"

    @property
    def port_file(self) -> Path:
        return self.state / "broker.port"

    @property
    def cert_port_file(self) -> Path:
        return self.state / "broker.cert-port"  # the CERTS listener's port

    @property
    def data(self) -> Path:
        return self.state / "data"

    @property
    def log(self) -> Path:
        return self.state / "server.log"

    @property
    def security_file(self) -> Path:
        return self.state / "formatted-for"  # SASL_SSL or PLAINTEXT: what the storage was made for

    @property
    def admin_file(self) -> Path:
        return self.state / "formatted-admin"  # fingerprint of the operator secret it was made with


def _formatted_as(p: BrokerPaths) -> str | None:
    try:
        return p.security_file.read_text().strip()
    except FileNotFoundError:
        return None


def paths(settings: Settings) -> BrokerPaths:
    lib = settings.broker_cache / f"kafka-{settings.kafka_version}" / "lib"
    return BrokerPaths(lib=lib, state=settings.broker_dir.resolve())


def fetch(settings: Settings) -> Path:
    """Download the broker's jars once; later calls return the cached folder."""
    p = paths(settings)
    marker = p.lib / ".complete"
    if marker.exists():
        return p.lib
    for tool in ("mvn", "java"):
        if shutil.which(tool) is None:
            raise BrokerError(
                f"'{tool}' is not on PATH: the embedded Kafka broker needs Java 17+ and Maven "
                "(apt-get install openjdk-17-jre-headless maven), or point LAPOR_BOOTSTRAP_SERVERS "
                "at an existing cluster."
            )
    p.lib.mkdir(parents=True, exist_ok=True)
    pom_text = resources.files("services.tools").joinpath("data/broker-pom.xml").read_text()
    pom = p.lib.parent / "pom.xml"
    pom.write_text(pom_text.replace("@KAFKA_VERSION@", settings.kafka_version))
    cmd = ["mvn", "-q", "-B", "-f", str(pom), "dependency:copy-dependencies",
           f"-DoutputDirectory={p.lib}", "-DincludeScope=runtime"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise BrokerError(
            f"Maven could not fetch org.apache.kafka:kafka_2.13:{settings.kafka_version} "
            f"(exit {proc.returncode}). Is Maven Central reachable? Output:\n"
            + (proc.stdout + proc.stderr)[-3000:]
        )
    marker.write_text(settings.kafka_version)
    return p.lib


def _java(lib: Path, *args: str) -> list[str]:
    return ["java", "-cp", f"{lib}/*", *args]


def format_storage(settings: Settings, lib: Path, cluster_id: str, props: Path,
                   workdir: Path) -> subprocess.CompletedProcess[str]:
    """Format a node's storage with Kafka's StorageTool, the operator's SCRAM credential
    included. Its arguments (the operator's password among them) go to `java` in an
    argument file only its owner can read, removed right after: never on a command line,
    where `ps` would show them."""
    args = ["kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(props),
            *format_arguments(settings)]
    argfile = workdir / "format.args"
    write_private(argfile, "".join('"' + a.replace("\\", "\\\\").replace('"', '\\"') + '"\n'
                                   for a in args))
    try:
        return subprocess.run(_java(lib, f"@{argfile}"), capture_output=True, text=True)
    finally:
        argfile.unlink(missing_ok=True)


def _check_formatted_for(settings: Settings, p: BrokerPaths) -> None:
    """Refuse at once data that the configured credentials cannot open (the broker would
    start and refuse the operator until the wait ran out)."""
    if _formatted_as(p) != settings.kafka_security:
        # The operator's SCRAM credential is made with the storage: data formatted another
        # way (or before brokers had authentication) cannot be switched in place.
        raise BrokerError(
            f"the broker data in {p.data} was formatted for {_formatted_as(p) or 'no authentication'}, "
            f"not {settings.kafka_security}: stop the broker and remove {p.state} (a development "
            "broker's data), or start it as it was formatted")
    if settings.kafka_security == "PLAINTEXT" or not p.admin_file.exists():
        return
    sec = BrokerSecurity(settings.access_dir.resolve())
    if not sec.admin_secret.exists() or fingerprint(sec.admin_secret) != p.admin_file.read_text().strip():
        raise BrokerError(
            f"the broker data in {p.data} was formatted with another operator credential than "
            f"the one in LAPOR_ACCESS_DIR={settings.access_dir} (another access directory, or "
            "its secret was replaced): the broker would refuse the operator. Start it with the "
            f"access directory it was made with, or remove {p.state} (a development broker's "
            "data) to start afresh")


def node_properties(settings: Settings, bind: str, host: str, port: int, controller_port: int,
                    replication_port: int, data: Path, installed: BrokerSecurity | None = None,
                    cert_port: int | None = None) -> str:
    """server.properties of a single combined node listening on `bind`, known as `host`
    (`installed`: where it finds its keystore and CA certificate, if not in the access dir;
    `cert_port`: the CERTS listener for clients with a certificate)."""
    return "\n".join([
        "process.roles=broker,controller",
        "node.id=1",
        *listener_properties(settings, f"{bind}:{port}", f"{bind}:{replication_port}",
                             f"{bind}:{controller_port}", f"{host}:{port}",
                             advertised_replication=f"{host}:{replication_port}",
                             installed=installed,
                             certs=(f"{bind}:{cert_port}", f"{host}:{cert_port}") if cert_port else None),
        f"controller.quorum.voters=1@{host}:{controller_port}",
        f"log.dirs={data}",
        # Topics come from the catalogue; an auto-created topic would have the wrong
        # partition count and break co-partitioning.
        "auto.create.topics.enable=false",
        f"num.partitions={settings.partitions}",
        "offsets.topic.replication.factor=1",
        "offsets.topic.num.partitions=8",
        "transaction.state.log.replication.factor=1",
        "transaction.state.log.min.isr=1",
        "group.initial.rebalance.delay.ms=0",
        # The demo runs a week of event time in a minute and stamps records with event time,
        # which lies ahead of the wall clock; Kafka refuses that beyond 1 h by default.
        "log.message.timestamp.after.max.ms=31536000000",
        "share.coordinator.state.topic.replication.factor=1",
        "",
    ])


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def free_port() -> int:
    """A port free on 127.0.0.1 now, for a server that binds it a few seconds later (a JVM
    starting). Taken below the kernel's ephemeral range: a port from bind(0) is an ephemeral
    one, and any outgoing connection made meanwhile may take it (a fault-campaign node once
    failed "Address already in use" while the sign-in provider started beside it)."""
    low, _ = _ephemeral_range()
    for _ in range(200):
        port = random.randint(max(1024, low - 12_000), low - 1)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as s:  # the range is crowded: any port the kernel gives
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def running_pid(settings: Settings) -> int | None:
    p = paths(settings)
    try:
        pid = int(p.pid_file.read_text())
        os.kill(pid, 0)
        return pid
    except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
        return None


def cert_port(settings: Settings) -> int | None:
    """The running embedded broker's CERTS listener port (client certificates), if any."""
    if running_pid(settings) is None:
        return None
    try:
        return int(paths(settings).cert_port_file.read_text())
    except (FileNotFoundError, ValueError):
        return None


def running_port(settings: Settings) -> int | None:
    p = paths(settings)
    if running_pid(settings) is None:
        return None
    try:
        return int(p.port_file.read_text())
    except (FileNotFoundError, ValueError):
        return None


def start(settings: Settings, port: int | None = None, timeout_s: float = 90.0) -> str:
    """Start the broker (or find it running); returns its bootstrap address."""
    existing = running_port(settings)
    if existing is not None:
        return f"127.0.0.1:{existing}"
    lib = fetch(settings)
    p = paths(settings)
    port = port or settings.broker_port
    if _port_open(port):
        raise BrokerError(f"port {port} on 127.0.0.1 is taken; set LAPOR_BROKER_PORT to a free port")
    controller_port = free_port()
    p.state.mkdir(parents=True, exist_ok=True)
    props = p.state / "server.properties"  # holds the keystore's password: owner only
    cert_port = free_port()  # the CERTS listener (client certificates); see cert_port()
    write_private(props, node_properties(settings, "127.0.0.1", "127.0.0.1", port, controller_port,
                                         free_port(), p.data, cert_port=cert_port))
    p.cert_port_file.write_text(str(cert_port))
    if not (p.data / "meta.properties").exists():
        cluster_id = subprocess.run(
            _java(lib, "kafka.tools.StorageTool", "random-uuid"),
            capture_output=True, text=True, check=True,
        ).stdout.strip().splitlines()[-1]
        fmt = format_storage(settings, lib, cluster_id, props, p.state)
        if fmt.returncode != 0:
            raise BrokerError(f"formatting broker storage in {p.data} failed:\n{fmt.stderr[-2000:]}")
        p.security_file.write_text(settings.kafka_security)
        if settings.kafka_security != "PLAINTEXT":
            p.admin_file.write_text(fingerprint(BrokerSecurity(settings.access_dir.resolve()).admin_secret))
    else:
        _check_formatted_for(settings, p)
    log4j = p.state / "log4j2.properties"
    log4j.write_text(
        resources.files("services.tools").joinpath("data/broker-log4j2.properties").read_text()
    )
    cmd = ["java", "-Xms256m", "-Xmx1g", f"-Dlog4j2.configurationFile={log4j}",
           f"-Dkafka.logs.dir={p.state}", "-cp", f"{lib}/*", "kafka.Kafka", str(props)]
    with open(p.state / "stdout.log", "ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    p.pid_file.write_text(str(proc.pid))
    p.port_file.write_text(str(port))
    bootstrap = f"127.0.0.1:{port}"
    try:
        wait_ready(settings.model_copy(update={"bootstrap_servers": bootstrap}), timeout_s, proc)
    except BrokerError:
        stop(settings)
        raise
    return bootstrap


def wait_ready(settings: Settings, timeout_s: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Wait until the broker answers the admin's metadata request (an open port is not
    enough; nor is a listener that does not yet know the admin's credential)."""
    import asyncio

    from aiokafka.admin import AIOKafkaAdminClient

    options = aiokafka_options(admin_settings(settings))
    bootstrap = settings.bootstrap_servers

    async def answers() -> bool:
        admin = AIOKafkaAdminClient(**options, request_timeout_ms=3000)
        try:
            await admin.start()
            await admin.list_topics()
            return True
        except Exception:
            return False
        finally:
            await admin.close()

    import logging

    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # refused connects are expected
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise BrokerError(f"the broker exited with code {proc.returncode} while starting; "
                              "see server.log and stdout.log in LAPOR_BROKER_DIR")
        if asyncio.run(answers()):
            return
        time.sleep(0.5)
    raise BrokerError(f"the broker at {bootstrap} did not answer within {timeout_s:.0f}s")


def stop(settings: Settings, timeout_s: float = 30.0) -> bool:
    """Stop the broker cleanly (SIGTERM, then SIGKILL); True if one was running."""
    p = paths(settings)
    pid = running_pid(settings)
    if pid is None:
        p.pid_file.unlink(missing_ok=True)
        return False
    os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        _reap(pid)
        time.sleep(0.2)
    else:
        os.killpg(pid, signal.SIGKILL)
        _reap(pid)
    p.pid_file.unlink(missing_ok=True)
    p.port_file.unlink(missing_ok=True)
    return True


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
