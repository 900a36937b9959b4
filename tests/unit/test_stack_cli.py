"""`lapor` against the compose stack (docs/operators/cli.md): the `cli` service runs as the
operator with the credentials it names inside what it mounts, and `scripts/stack run` finds
it although it sits behind the `tools` profile."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _cli() -> dict[str, object]:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    service: dict[str, object] = compose["services"]["cli"]
    return service


def test_the_cli_service_is_the_operator_with_its_secret_and_ca_mounted() -> None:
    cli = _cli()
    env = cli["environment"]
    assert isinstance(env, dict)
    mounts = [str(v).split(":")[1] for v in cli.get("volumes", [])]  # type: ignore[attr-defined]
    assert env["LAPOR_KAFKA_USER"] == "lapor-admin"
    for setting in ("LAPOR_KAFKA_PASSWORD_FILE", "LAPOR_KAFKA_CA_FILE"):
        assert any(str(env[setting]).startswith(m + "/") for m in mounts), setting
    assert env["LAPOR_BOOTSTRAP_SERVERS"] == "kafka:9092"
    # never the agencies' bridge secrets
    assert not any(str(v).startswith("bridge-agencies") for v in cli["volumes"])  # type: ignore[attr-defined]
    assert cli.get("profiles") == ["tools"]  # not started by `up`


def test_scripts_stack_run_finds_the_cli_service_behind_its_profile() -> None:
    script = (ROOT / "scripts/stack").read_text(encoding="utf-8")
    branch = re.search(r"\n  run\)[^\n]*\n\s*(.+?)\n\s*;;", script)
    assert branch is not None, "scripts/stack has no run) branch of its own"
    line = branch[1]
    env = {**os.environ, "CONTAINERS_CONF": str(ROOT / "ops/podman/containers.conf")}
    env.update(dict(re.findall(r"([A-Z_]+)=(\S+)\s", line.split("compose")[0] + " ")))
    # podman-compose resolves the service without starting anything (--dry-run).
    done = subprocess.run([str(ROOT / ".venv/bin/podman-compose"), "--dry-run", "-p", "lapor",
                           "-f", "docker-compose.yml", "-f", "compose.local-base.yml", "run",
                           "--rm", "cli", "lapor", "--help"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "missing services" not in done.stderr
