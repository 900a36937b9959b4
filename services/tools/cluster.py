"""A local three-node KRaft cluster (`lapor broker start --nodes 3`): what production runs
(replication factor 3, `min.insync.replicas` 2), small enough for a 2-core laptop.

Each node is broker and controller (node ids 1..n, a static controller quorum) with three
listeners: CLIENT (what clients use: advertised on its own port, or on a fault-injection
proxy's port in front of it), REPLICATION (between brokers, never proxied) and CONTROLLER.
Ports are chosen once and kept in `cluster.json`, so a node killed and started again comes
back on the same addresses with its data."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

from services.runtime.kafka_client import aiokafka_options
from services.runtime.settings import Settings
from services.tools.broker_security import admin_settings, listener_properties, write_private
from services.tools.broker import BrokerError, _java, _reap, fetch, format_storage, free_port, wait_ready

HEAP = ["-Xms128m", "-Xmx512m"]  # three JVMs on 2 cores and a laptop's memory


@dataclass(frozen=True)
class Node:
    node_id: int
    client_port: int
    advertised_port: int  # the client port, or the proxy's in front of it
    replication_port: int
    controller_port: int


def state_dir(settings: Settings) -> Path:
    return settings.broker_dir.resolve() / "cluster"


def _layout_file(settings: Settings) -> Path:
    return state_dir(settings) / "cluster.json"


def layout(settings: Settings) -> list[Node]:
    path = _layout_file(settings)
    return [Node(**n) for n in json.loads(path.read_text())] if path.exists() else []


def bootstrap(nodes: list[Node]) -> str:
    return ",".join(f"127.0.0.1:{n.advertised_port}" for n in nodes)


def _properties(settings: Settings, node: Node, nodes: list[Node]) -> str:
    voters = ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in nodes)
    rf = min(3, len(nodes))
    return "\n".join([
        "process.roles=broker,controller",
        f"node.id={node.node_id}",
        *listener_properties(settings, f"127.0.0.1:{node.client_port}",
                             f"127.0.0.1:{node.replication_port}",
                             f"127.0.0.1:{node.controller_port}",
                             f"127.0.0.1:{node.advertised_port}"),
        f"controller.quorum.voters={voters}",
        f"log.dirs={state_dir(settings) / f'node-{node.node_id}' / 'data'}",
        "auto.create.topics.enable=false",  # topics come from the catalogue (co-partitioning)
        f"num.partitions={settings.partitions}",
        f"default.replication.factor={rf}",
        f"min.insync.replicas={max(1, rf - 1)}",
        f"offsets.topic.replication.factor={rf}",
        "offsets.topic.num.partitions=8",
        f"transaction.state.log.replication.factor={rf}",
        f"transaction.state.log.min.isr={max(1, rf - 1)}",
        f"share.coordinator.state.topic.replication.factor={rf}",
        "group.initial.rebalance.delay.ms=0",
        "log.message.timestamp.after.max.ms=31536000000",  # the demo stamps event time
        "unclean.leader.election.enable=false",
        "",
    ])


def _node_dir(settings: Settings, node_id: int) -> Path:
    return state_dir(settings) / f"node-{node_id}"


def node_pid(settings: Settings, node_id: int) -> int | None:
    try:
        pid = int((_node_dir(settings, node_id) / "broker.pid").read_text())
        os.kill(pid, 0)
        return pid
    except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
        return None


def start_node(settings: Settings, node_id: int) -> None:
    """Start one node of the laid-out cluster (formatting its storage the first time)."""
    nodes = layout(settings)
    node = next(n for n in nodes if n.node_id == node_id)
    if node_pid(settings, node_id) is not None:
        return
    lib = fetch(settings)
    home = _node_dir(settings, node_id)
    home.mkdir(parents=True, exist_ok=True)
    props = home / "server.properties"  # holds the keystore's password: owner only
    write_private(props, _properties(settings, node, nodes))
    cluster_id = (state_dir(settings) / "cluster.id").read_text().strip()
    if not (home / "data" / "meta.properties").exists():
        fmt = format_storage(settings, lib, cluster_id, props, home)
        if fmt.returncode != 0:
            raise BrokerError(f"formatting node {node_id} failed:\n{fmt.stderr[-2000:]}")
    log4j = home / "log4j2.properties"
    log4j.write_text(resources.files("services.tools").joinpath("data/broker-log4j2.properties").read_text())
    cmd = ["java", *HEAP, f"-Dlog4j2.configurationFile={log4j}", f"-Dkafka.logs.dir={home}",
           "-cp", f"{lib}/*", "kafka.Kafka", str(props)]
    with open(home / "stdout.log", "ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    (home / "broker.pid").write_text(str(proc.pid))


def kill_node(settings: Settings, node_id: int, sig: int = signal.SIGKILL, timeout_s: float = 30) -> bool:
    pid = node_pid(settings, node_id)
    if pid is None:
        return False
    os.killpg(pid, sig)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        _reap(pid)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)
    else:
        os.killpg(pid, signal.SIGKILL)
        _reap(pid)
    (_node_dir(settings, node_id) / "broker.pid").unlink(missing_ok=True)
    return True


def start(settings: Settings, nodes: int = 3, client_ports: list[int] | None = None,
          advertised_ports: list[int] | None = None, timeout_s: float = 240) -> str:
    """Lay out (once) and start every node; returns the bootstrap list once all answer."""
    if not layout(settings):
        clients = client_ports or [settings.broker_port + i for i in range(nodes)]
        laid = [Node(i + 1, clients[i], (advertised_ports or clients)[i], free_port(), free_port())
                for i in range(nodes)]
        state_dir(settings).mkdir(parents=True, exist_ok=True)
        cluster_id = subprocess.run(_java(fetch(settings), "kafka.tools.StorageTool", "random-uuid"),
                                    capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
        (state_dir(settings) / "cluster.id").write_text(cluster_id)
        _layout_file(settings).write_text(json.dumps([asdict(n) for n in laid], indent=1))
    laid = layout(settings)
    for node in laid:
        start_node(settings, node.node_id)
    direct = ",".join(f"127.0.0.1:{n.client_port}" for n in laid)
    try:
        direct_settings = settings.model_copy(update={"bootstrap_servers": direct})
        wait_ready(direct_settings, timeout_s)
        _wait_registered(direct_settings, len(laid), timeout_s)
    except BrokerError:
        stop(settings)
        raise
    return bootstrap(laid)


def _wait_registered(direct: Settings, nodes: int, timeout_s: float) -> None:
    """Until every node is a registered broker: one answering is not enough, a topic with
    replication factor 3 cannot be created before three are."""
    import asyncio

    from aiokafka import AIOKafkaClient

    async def registered() -> int:
        client = AIOKafkaClient(**aiokafka_options(admin_settings(direct)))
        try:
            await client.bootstrap()
            await client.force_metadata_update()
            return len(client.cluster.brokers())
        except Exception:
            return 0
        finally:
            await client.close()

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if asyncio.run(registered()) >= nodes:
            return
        time.sleep(0.5)
    raise BrokerError(f"not all {nodes} nodes registered within {timeout_s:.0f}s")


def running(settings: Settings) -> list[int]:
    return [n.node_id for n in layout(settings) if node_pid(settings, n.node_id) is not None]


def stop(settings: Settings) -> bool:
    """Stop every node (SIGTERM, then SIGKILL); True if one was running."""
    ran = [kill_node(settings, n.node_id, signal.SIGTERM) for n in layout(settings)]
    return any(ran)
