"""`lapor bridge-files`: the bridge's own files in a deployment (compose's `bridge-files`
step), in the one folder that only the bridge and this step mount: the agencies file
(LAPOR_BRIDGE_FILE) and each agency's secret.

- No file yet: a starter is written (services/tools/data/bridge.starter.yaml).
- `--install FILE` (`-`: standard input) replaces the file, but only with one the bridge
  would start with: a bad file is refused here and the running bridge keeps its own.
- Each webhook agency whose secret file is missing gets a fresh Standard Webhooks secret
  (`whsec_` and 32 random bytes, 0600). One that exists is never replaced: its agency has
  it. An Open311 agency's api_key comes from the agency, so it is never made here.

Nothing here prints a secret, only paths and fingerprints: a run's output is the step's
log. The operator reads a secret out to hand it to its agency (README, "The bridge in
compose"). The bridge file is checked by the bridge's own loader, reached through its
`lapor.services` entry point like `lapor worker` does (the tools import no service)."""

from __future__ import annotations

import argparse
import base64
import hashlib
import secrets
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from services.runtime.settings import Settings
from services.tools.broker_security import write_private, write_secret

DEFAULT_FILE = Path("/bridge/bridge.yaml")  # compose: the `bridge-agencies` volume
KEY_BYTES = 32  # Standard Webhooks allows 24 to 64; the bridge refuses fewer than 24

Check = Callable[[Path], None]  # raises ValueError naming what is wrong with a bridge file


class BridgeFilesError(ValueError):
    """The bridge file cannot be installed or used; the message says why."""


@dataclass(frozen=True)
class AgencyFiles:
    agency_id: str  # or `<agency>/<unit>` for a unit's own endpoint
    mode: str
    endpoint: str
    secret: Path  # as the file names it (relative to the file's folder, or absolute)
    fingerprint: str  # of its first line: the operator and the agency compare it, not the secret
    made: bool  # a fresh webhook secret, made by this run


def starter_text() -> str:
    return resources.files("services.tools").joinpath("data/bridge.starter.yaml").read_text()


def new_webhook_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii")


def secret_fingerprint(path: Path) -> str:
    """A short digest of a secret file's first line, as the agency computes it from the
    secret it was given: `printf %s "$SECRET" | sha256sum | cut -c1-16`. It tells two
    copies apart and says nothing of a random 32-byte key."""
    lines = path.read_text(encoding="utf-8").splitlines()
    first = lines[0].strip() if lines else ""
    return hashlib.sha256(first.encode("utf-8")).hexdigest()[:16]


def _agencies(text: str) -> dict[str, dict[str, Any]]:
    """The agencies a bridge file names, as far as it can be read: what is wrong with it is
    the bridge's loader's to say, in its own words (the check that follows)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return {}
    agencies = data.get("agencies") if isinstance(data, dict) else None
    if not isinstance(agencies, dict):
        return {}
    return {str(a): v for a, v in agencies.items() if isinstance(v, dict)}


def _secret_path(agency: dict[str, Any]) -> Path | None:
    name = agency.get("secret_file" if agency.get("mode") == "webhook" else "api_key_file")
    return Path(name) if isinstance(name, str) and name else None


def _within(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())


def _units(agency: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The agency's units with an endpoint of their own (`units:`), as far as they parse."""
    units = agency.get("units")
    if not isinstance(units, dict):
        return {}
    return {str(u): v for u, v in units.items() if isinstance(v, dict)}


def _unit_secret_path(unit: dict[str, Any]) -> Path | None:
    name = unit.get("secret_file")
    return Path(name) if isinstance(name, str) and name else None


def make_webhook_secrets(text: str, folder: Path, known: Iterable[str]) -> list[str]:
    """A fresh secret for each registered webhook agency of `text`, and each unit with an
    endpoint of its own (any agency's: a unit's is always a webhook), whose secret file is
    missing, if that file is in `folder` (a secret elsewhere is the operator's to place: this
    step mounts only its folder). Returns those given one (`pln`, `pemda-32-73/dinas-pupr`)."""
    registered, made = set(known), []
    for agency_id, agency in _agencies(text).items():
        if agency_id not in registered:
            continue  # a misspelt agency gets no secret: the check refuses the file
        wanted = [(agency_id, _secret_path(agency))] if agency.get("mode") == "webhook" else []
        wanted += [(f"{agency_id}/{u}", _unit_secret_path(unit)) for u, unit in _units(agency).items()]
        for name, secret in wanted:
            if secret is None:
                continue
            path = secret if secret.is_absolute() else folder / secret
            if not path.exists() and _within(path, folder):
                write_secret(path, new_webhook_secret())  # 0600, whole, its folder 0700
                made.append(name)
    return made


def prepare(file: Path, known: Iterable[str], check: Check, install: str | None = None) -> list[AgencyFiles]:
    """Make the bridge's files ready: the file (the starter if none, or `install` once it
    passes `check`) and every webhook agency's secret; then the whole as the bridge reads it."""
    folder = file.parent
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    if install is None and file.exists():
        text, candidate = file.read_text(encoding="utf-8"), None
    else:
        text = starter_text() if install is None else install
        candidate = file.with_name(f".{file.name}.new")  # beside it: the same relative paths
    made = make_webhook_secrets(text, folder, known)
    if candidate is not None:
        write_private(candidate, text)
    try:
        check(candidate or file)
    except ValueError as exc:
        if candidate is not None:
            candidate.unlink(missing_ok=True)
            raise BridgeFilesError(f"not installed ({file} is unchanged): "
                                   + str(exc).replace(str(candidate), "the new file")) from None
        raise
    if candidate is not None:
        candidate.replace(file)
    files = []
    for agency_id, agency in _agencies(text).items():
        name = _secret_path(agency)
        assert name is not None  # the check passed: every agency has its secret file
        path = name if name.is_absolute() else folder / name
        files.append(AgencyFiles(agency_id, str(agency["mode"]), str(agency["endpoint"]), name,
                                 secret_fingerprint(path), agency_id in made))
        for unit_id, unit in _units(agency).items():  # each a webhook of its own (checked above)
            unit_secret = _unit_secret_path(unit)
            assert unit_secret is not None
            unit_path = unit_secret if unit_secret.is_absolute() else folder / unit_secret
            files.append(AgencyFiles(f"{agency_id}/{unit_id}", "webhook", str(unit["endpoint"]), unit_secret,
                                     secret_fingerprint(unit_path), f"{agency_id}/{unit_id}" in made))
    return files


def bridge_check(settings: Settings) -> Check:
    """Would the bridge start with this file? Its worker reads and checks the whole file
    (every agency registered, every key known, each secret readable, private and well
    formed) when it is made, before it connects to anything."""
    from services.tools.cli_tools import service_entry_points

    create_app = service_entry_points()["bridge"].load()

    def check(path: Path) -> None:
        create_app(settings.model_copy(update={"bridge_file": path}))

    return check


def _bridge_files(args: argparse.Namespace, settings: Settings) -> int:
    from services.domain.registry import load_registry

    file: Path = args.file or settings.bridge_file or DEFAULT_FILE
    install = None
    if args.install == "-":
        install = sys.stdin.read()
    elif args.install is not None:
        install = Path(args.install).read_text(encoding="utf-8")
    known = load_registry(settings.agencies_file).ids()
    files = prepare(file, known, bridge_check(settings), install)
    print(f"{'installed' if install is not None else 'checked'} {file}: "
          f"{len(files)} agenc{'y' if len(files) == 1 else 'ies'}; the bridge reads it when it (re)starts")
    for f in files:
        what = "secret" if f.mode == "webhook" else "api key"
        state = f"made now: hand it to the {'unit' if '/' in f.agency_id else 'agency'}" if f.made else "kept"
        print(f"  {f.agency_id}: {f.mode} {f.endpoint}; {what} {f.secret} "
              f"(sha256 {f.fingerprint}; {state})")
    return 0


def register(sub: Any) -> None:
    b = sub.add_parser("bridge-files", help="the bridge's agencies file and each webhook "
                       "agency's secret (made once), checked as the bridge reads them")
    b.add_argument("--file", type=Path, default=None, help="the bridge file (default: "
                   f"LAPOR_BRIDGE_FILE, else {DEFAULT_FILE}); secrets go beside it")
    b.add_argument("--install", metavar="FILE", default=None, help="replace the bridge file with "
                   "FILE (`-`: standard input) once the bridge would start with it")
    b.set_defaults(handler=_bridge_files)
