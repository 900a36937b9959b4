"""The demo says at once when one of its workers stops (it once ran on for minutes with the
status gate gone, and only the escalation counts hinted at it)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from services.tools.demo import stopped_early


def test_a_worker_that_exits_is_named_once_with_its_exit_code_and_log(tmp_path: Path) -> None:
    running = subprocess.Popen(["sleep", "30"])
    failed = subprocess.Popen(["sh", "-c", "exit 2"])
    try:
        failed.wait(10)
        told: set[str] = set()
        lines = stopped_early({"router": running, "status_gate": failed}, told, tmp_path)
        assert lines == [f"demo: the status_gate worker stopped (exit code 2); "
                         f"see {tmp_path / 'status_gate.log'}"]
        assert stopped_early({"router": running, "status_gate": failed}, told, tmp_path) == []
        assert told == {"status_gate"}
    finally:
        running.kill()
        running.wait()
