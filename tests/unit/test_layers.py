"""The house's floors, checked on the import graph: schemas -> domain -> runtime and web ->
one folder per stage -> tools. A stage talks to another only through topics, so an import
between stages (or from a stage into the operator tools) is a defect even when it works;
faust and its patches live in the runtime alone; decisions (handlers.py, the domain) import
no Kafka or web client."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ROOT / "services"
FLOORS = {"domain", "runtime", "web", "tools"}  # every other folder under services/ is a stage
STAGES = sorted(p.name for p in SERVICES.iterdir()
                if p.is_dir() and any(p.glob("*.py")) and p.name not in FLOORS)
IO_CLIENTS = {"faust", "mode", "aiokafka", "confluent_kafka", "aiohttp", "aiohttp_session", "httpx",
              "httpx2", "authlib"}


def imported_modules(path: Path) -> Iterator[str]:
    """Every module a file imports, at any depth (an import inside a function counts too)."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.module


def imports_under(folder: Path) -> Iterator[tuple[str, str]]:
    for path in sorted(folder.rglob("*.py")):
        for module in imported_modules(path):
            yield str(path.relative_to(ROOT)), module


def services_floor(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "services" and len(parts) > 1 else None


def test_the_stages_are_found() -> None:
    # A guard for the checks below: they pass vacuously if no stage is found.
    assert {"intake", "router", "sla_monitor", "status_gate", "desk", "bridge"} <= set(STAGES)


@pytest.mark.parametrize("stage", STAGES)
def test_a_stage_imports_no_other_stage_and_no_tool(stage: str) -> None:
    allowed = {"domain", "runtime", "web", stage}
    wrong = [(f, m) for f, m in imports_under(SERVICES / stage)
             if (floor := services_floor(m)) is not None and floor not in allowed]
    assert not wrong, f"stages talk through topics, not imports: {wrong}"


@pytest.mark.parametrize("floor, allowed", [
    ("domain", {"domain"}),
    ("runtime", {"domain", "runtime"}),
    ("web", {"domain", "runtime", "web"}),
])
def test_a_floor_imports_only_the_floors_beneath_it(floor: str, allowed: set[str]) -> None:
    wrong = [(f, m) for f, m in imports_under(SERVICES / floor)
             if (name := services_floor(m)) is not None and name not in allowed]
    assert not wrong, wrong


def test_the_wire_models_import_no_service() -> None:
    wrong = [(f, m) for f, m in imports_under(ROOT / "schemas") if m.split(".")[0] == "services"]
    assert not wrong, wrong


def test_faust_lives_in_the_runtime_alone() -> None:
    wrong = [(f, m) for f, m in imports_under(SERVICES)
             if m.split(".")[0] in {"faust", "mode"} and not f.startswith("services/runtime/")]
    assert not wrong, f"faust and its patches stay in services/runtime: {wrong}"


def test_decisions_import_no_kafka_or_web_client() -> None:
    decisions = [SERVICES / "domain", *(SERVICES / s / "handlers.py" for s in STAGES)]
    wrong = [(f, m) for d in decisions if d.exists()
             for f, m in (imports_under(d) if d.is_dir() else
                          ((str(d.relative_to(ROOT)), m) for m in imported_modules(d)))
             if m.split(".")[0] in IO_CLIENTS]
    assert not wrong, f"decisions are pure: {wrong}"


def test_the_web_floor_holds_no_kafka_client() -> None:
    wrong = [(f, m) for f, m in imports_under(SERVICES / "web")
             if m.split(".")[0] in {"faust", "mode", "aiokafka", "confluent_kafka"}]
    assert not wrong, wrong
