"""The deployment's own agencies on the compose stack: every lapor container reads the same
agencies file (LAPOR_AGENCIES_FILE) from the configuration directory (ops/deployment, or the
one LAPOR_STACK_CONFIG names), mounted read-only; `scripts/stack up` refuses a directory the
containers (uid 10001) could not read. The stack test runs it with an agency of its own."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from services.domain.registry import load_registry

ROOT = Path(__file__).resolve().parents[2]
MOUNT = "${LAPOR_STACK_CONFIG:-./ops/deployment}:/etc/lapor:ro"
FILE = "/etc/lapor/agencies.yaml"
# Every container whose `lapor` loads the registry: a worker that routes to, times, shows or
# bridges an agency, and the steps and commands that provision agencies or check bridge files.
READERS = {"router", "sla_monitor", "ops_view", "desk", "lacak", "bridge", "disposition",
           "bridge-files", "provision", "cli"}


def _services() -> dict[str, dict[str, object]]:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    services: dict[str, dict[str, object]] = compose["services"]
    return services


def test_every_container_that_reads_the_registry_gets_the_deployments_file_read_only() -> None:
    naming = set()
    for name, service in _services().items():
        env = service.get("environment") or {}
        assert isinstance(env, dict), name
        volumes = [str(v) for v in service.get("volumes", [])]  # type: ignore[attr-defined]
        if "LAPOR_AGENCIES_FILE" in env:
            naming.add(name)
            assert env["LAPOR_AGENCIES_FILE"] == FILE, name
            assert MOUNT in volumes, name  # the file it names is there, read-only
        else:
            assert not any(":/etc/lapor" in v for v in volumes), name
    assert READERS <= naming


def test_the_shipped_deployment_file_is_valid_and_adds_no_agency() -> None:
    shipped = ROOT / "ops/deployment/agencies.yaml"
    assert yaml.safe_load(shipped.read_text(encoding="utf-8")) == {"agencies": []}
    assert load_registry(shipped).ids() == load_registry().ids()


def test_podman_compose_mounts_the_directory_lapor_stack_config_names(tmp_path: Path) -> None:
    env = {**os.environ, "CONTAINERS_CONF": str(ROOT / "ops/podman/containers.conf"),
           "LAPOR_STACK_CONFIG": str(tmp_path)}
    done = subprocess.run([str(ROOT / ".venv/bin/podman-compose"), "-p", "lapor", "-f",
                           "docker-compose.yml", "-f", "compose.local-base.yml", "config"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    router = yaml.safe_load(done.stdout)["services"]["router"]
    assert f"{tmp_path}:/etc/lapor:ro" in router["volumes"]


def _check_config(directory: Path) -> subprocess.CompletedProcess[str]:
    """scripts/stack's own check_config, run on `directory` as LAPOR_STACK_CONFIG."""
    script = (ROOT / "scripts/stack").read_text(encoding="utf-8")
    function = re.search(r"\ncheck_config\(\) \{.*?\n\}\n", script, re.S)
    assert function is not None, "scripts/stack has no check_config"
    return subprocess.run(["bash", "-c", f"set -eu\n{function[0]}\ncheck_config"], capture_output=True,
                          text=True, env={**os.environ, "LAPOR_STACK_CONFIG": str(directory)}, timeout=30)


@pytest.mark.parametrize(("dir_mode", "file_mode", "ok"), [
    (0o755, 0o644, True), (0o700, 0o644, False), (0o755, 0o600, False)])
def test_stack_up_refuses_a_configuration_the_containers_cannot_read(
        tmp_path: Path, dir_mode: int, file_mode: int, ok: bool) -> None:
    config = tmp_path / "deployment"
    config.mkdir()
    (config / "agencies.yaml").write_text("agencies: []\n")
    (config / "agencies.yaml").chmod(file_mode)
    config.chmod(dir_mode)
    done = _check_config(config)
    assert (done.returncode == 0) is ok, done.stderr
    if not ok:
        assert "cannot read" in done.stderr


def test_stack_up_refuses_a_configuration_without_its_agencies_file(tmp_path: Path) -> None:
    done = _check_config(tmp_path)
    assert done.returncode == 1 and "agencies.yaml is missing" in done.stderr


def test_stack_up_checks_the_configuration_before_it_starts_any_container() -> None:
    script = (ROOT / "scripts/stack").read_text(encoding="utf-8")
    start = re.search(r"\nstart\(\) \{\n(.*?)\n\}\n", script, re.S)
    assert start is not None
    steps = [line.strip() for line in start[1].splitlines() if not line.strip().startswith("local")]
    assert steps[0] == "check_config"


def test_scripts_stack_adds_the_deployments_own_compose_overrides_last(tmp_path: Path) -> None:
    # The deployment's routing rules (LAPOR_ROUTES_FILE) reach the router through an override
    # of its own, named on every command; a name that is no file stops the command.
    override = tmp_path / "compose.routes.yml"
    override.write_text("services:\n  router:\n    environment:\n"
                        "      LAPOR_ROUTES_FILE: /etc/lapor/routes.yaml\n", encoding="utf-8")
    env = {**os.environ, "LAPOR_STACK_OVERRIDES": override.name}
    done = subprocess.run(["bash", str(ROOT / "scripts/stack"), "config"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    services = yaml.safe_load(done.stdout)["services"]
    assert services["router"]["environment"]["LAPOR_ROUTES_FILE"] == "/etc/lapor/routes.yaml"
    assert services["router"]["environment"]["LAPOR_AGENCIES_FILE"] == FILE  # the shipped env kept
    missing = subprocess.run(["bash", str(ROOT / "scripts/stack"), "config"], cwd=tmp_path,
                             env={**env, "LAPOR_STACK_OVERRIDES": "nope.yml"},
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and "no file nope.yml" in missing.stderr
