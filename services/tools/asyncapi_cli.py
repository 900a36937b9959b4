"""The AsyncAPI project's own CLI (`@asyncapi/cli`, pinned in .tools/asyncapi/package-lock.json)
that validates docs/asyncapi.yaml. scripts/setup installs it with `npm ci` into the project's
cache (outside git: its node_modules weigh about 1.5 GB), one folder per lock file, so a new
pin installs afresh and an old one is never half-replaced."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

MANIFEST = Path(__file__).resolve().parents[2] / ".tools" / "asyncapi"


class AsyncApiToolError(RuntimeError):
    """The validator is not installed, or could not be."""


def home(cache: Path) -> Path:
    digest = hashlib.sha256((MANIFEST / "package-lock.json").read_bytes()).hexdigest()[:16]
    return cache / "asyncapi-cli" / digest


def executable(cache: Path) -> Path:
    exe = home(cache) / "node_modules" / ".bin" / "asyncapi"
    if not exe.exists():
        raise AsyncApiToolError(f"the AsyncAPI CLI is not installed in {home(cache)}: "
                                "run `bash scripts/setup` (it needs node and npm)")
    return exe


def install(cache: Path) -> Path:
    """`npm ci` from the checked-in lock, once. --ignore-scripts: the CLI's own postinstall
    would append shell completion to the user's ~/.bashrc; validation needs no script."""
    target = home(cache)
    if (target / "node_modules" / ".bin" / "asyncapi").exists():
        return executable(cache)
    npm = shutil.which("npm")
    if npm is None:
        raise AsyncApiToolError("npm is not on PATH: install Node.js 18 or later with npm "
                                "(Debian: apt-get install nodejs npm)")
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    for name in ("package.json", "package-lock.json"):
        shutil.copyfile(MANIFEST / name, partial / name)
    env = {**os.environ, "npm_config_update_notifier": "false"}
    proc = subprocess.run([npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund",
                           "--loglevel=error"], cwd=partial, env=env, capture_output=True,
                          text=True, timeout=1800)
    if proc.returncode != 0:
        raise AsyncApiToolError(f"npm ci of the AsyncAPI CLI failed: {proc.stderr[-2000:]}")
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)  # whole or not at all: a killed install is never taken for done
    return executable(cache)


def validate(document: Path, cache: Path) -> subprocess.CompletedProcess[str]:
    """`asyncapi validate` with warnings counted as failures. Its usage analytics stay off:
    its settings file is our own, in the tool's folder, not the user's home."""
    exe = executable(cache)  # a clear error when it is not installed
    settings = home(cache) / "analytics.json"
    if not settings.exists():
        settings.write_text(json.dumps({"analyticsEnabled": "false", "infoMessageShown": "true",
                                        "userID": "lapor-router"}))
    env = {**os.environ, "ASYNCAPI_METRICS_CONFIG_PATH": str(settings), "CI": "true",
           "NO_COLOR": "1"}
    return subprocess.run([str(exe), "validate", str(document),
                           "--fail-severity", "warn", "--diagnostics-format", "stylish"],
                          env=env, capture_output=True, text=True, timeout=300)
