"""The bridge's configuration: which agencies it serves, how, and with which secret. Kept as
data (YAML, `LAPOR_BRIDGE_FILE`) and checked whole at start, so a typo stops the bridge with
a message naming the agency and field instead of failing on the first complaint.

    agencies:
      pln:
        mode: webhook
        endpoint: https://crm.pln.example/lapor/complaints
        secret_file: /run/secrets/bridge-pln
        rate_per_s: 5
      pemda-32-73:
        mode: open311
        endpoint: https://open311.bandung.example/georeport/v2/
        api_key_file: /run/secrets/bridge-pemda-32-73
        service_codes: {roads_infrastructure: "JALAN", default: "UMUM"}
        units:                        # optional, for webhook and open311 agencies alike
          dinas-pupr:                 # a unit's own system: a signed webhook of its own
            endpoint: https://sipupr.bandung.example/lapor
            secret_file: /run/secrets/bridge-pemda-32-73-dinas-pupr
"""

from __future__ import annotations

import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from ipaddress import ip_address
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from schemas import AgencyId, Category, Status
from schemas.units import UnitId
from services.bridge.signing import SECRET_PREFIX, webhook_key


class BridgeConfigError(ValueError):
    """The bridge file cannot be used; the message says which agency and field, and why."""


class Endpoint(BaseModel):
    """What every endpoint the bridge calls has: an agency's own, or one of its units'."""

    model_config = ConfigDict(extra="forbid")  # a misspelt key is an error, not a default

    endpoint: str = Field(description="Where complaints go: the webhook URL, or the "
                          "GeoReport v2 base URL (requests.json is below it).")
    rate_per_s: float = Field(5.0, gt=0, description="Most requests a second to this agency.")
    burst: int = Field(5, ge=1, description="Requests allowed at once after a quiet spell.")
    # At most 25 s: a try (a lookup and a POST) then ends within the 60 s a rebalance waits
    # for a call under way (lane_runtime.REVOKE_WAIT_S), so no two workers call at once.
    timeout_s: float = Field(10.0, gt=0, le=25, description="Longest wait for one answer "
                             "(at most 25 s).")
    give_up_after_s: float = Field(86_400.0, gt=0, description="A complaint still not taken "
                                   "this long after it reached the agency's topic (and tried at "
                                   "least once) is dead-lettered `bridge_gave_up`, and the lane "
                                   "goes on: the agency's staff work it on the desk. 1 day.")

    @field_validator("endpoint")
    @classmethod
    def _https(cls, url: str) -> str:
        """https only, except to this machine (an agency's test server, the tests' peers)."""
        parts = urlsplit(url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError("must be an http(s) URL with a host")
        if parts.scheme == "http" and not _loopback(parts.hostname):
            raise ValueError("must be https (plain http only to this machine)")
        return url


class UnitEndpoint(Endpoint):
    """A unit's own system (a dinas's, a directorate general's): a signed webhook, whichever
    way its agency is served. It gets the complaints dispositioned to the unit."""

    secret_file: Path = Field(description="The unit's own `whsec_` secret (Standard Webhooks); "
                              "a second line while rotating. Used for calls out only: a unit "
                              "posts no statuses to the bridge.")


class _Agency(Endpoint):
    # A unit id of the agency -> its own endpoint. The ids are the agency's units (agency.units.v1);
    # one the judge never names simply gets nothing.
    units: dict[UnitId, UnitEndpoint] = Field(default_factory=dict, description="Units of the "
                                              "agency with an endpoint of their own.")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


class WebhookAgency(_Agency):
    mode: Literal["webhook"]
    secret_file: Path = Field(description="The shared secret, `whsec_<base64>` (Standard "
                              "Webhooks), also used to verify the statuses the agency posts "
                              "back. A second line is a second active secret, while rotating.")


# What a GeoReport v2 status (or FixMyStreet's extended state, upper case) means in the
# contract; None: no status (the request is merely open). An agency's `status_map` adds to it.
DEFAULT_STATUS_MAP: dict[str, Status | None] = {
    "open": None,
    "closed": Status.resolved,
    "OPEN": None,
    "CONFIRMED": Status.acknowledged,
    "INVESTIGATING": Status.in_progress,
    "IN_PROGRESS": Status.in_progress,
    "ACTION_SCHEDULED": Status.in_progress,
    "INTERNAL_REFERRAL": Status.in_progress,
    "FIXED": Status.resolved,
    "CLOSED": Status.resolved,
    "NO_FURTHER_ACTION": Status.responded,
    "UNABLE_TO_FIX": Status.responded,
    "WONT_FIX": Status.responded,
    "DUPLICATE": Status.responded,
    "NOT_COUNCILS_RESPONSIBILITY": Status.not_our_authority,
}
# Statuses an agency may send (the national admin's and reporters' are not theirs).
AGENCY_STATUSES = frozenset(Status) - {Status.assigned, Status.reporter_replied}
# What an Open311 server's states may become: a disposition names a unit, which a GeoReport
# state never does (a `disposed` without one would hand the complaint back at every poll).
OPEN311_STATUSES = AGENCY_STATUSES - {Status.disposed}


class Open311Agency(_Agency):
    mode: Literal["open311"]
    api_key_file: Path = Field(description="The agency's GeoReport v2 api_key (first line).")
    jurisdiction_id: str | None = None
    service_codes: dict[str, str] = Field(description="Complaint category -> service_code; "
                                          "`default` for every category not named.")
    updates: Literal["requests", "servicerequestupdates"] = Field(
        "requests", description="How status changes are read back: GET requests.json (standard) "
        "or FixMyStreet's servicerequestupdates.json (extended states).")
    poll_interval_s: float = Field(60.0, gt=0)
    status_map: dict[str, Status | None] = Field(default_factory=dict)
    default_address: str | None = Field(None, description="address_string for a complaint "
                                        "that gives no place (GeoReport v2 needs one).")

    @field_validator("service_codes")
    @classmethod
    def _every_category(cls, codes: dict[str, str]) -> dict[str, str]:
        known = {c.value for c in Category} | {"default"}
        unknown = sorted(set(codes) - known)
        if unknown:
            raise ValueError(f"unknown categories {unknown}")
        if "default" not in codes and set(codes) != known - {"default"}:
            missing = sorted(known - {"default"} - set(codes))
            raise ValueError(f"no service_code for {missing}; add them or a `default`")
        return codes

    @field_validator("status_map")
    @classmethod
    def _agency_statuses(cls, mapping: dict[str, Status | None]) -> dict[str, Status | None]:
        wrong = sorted(k for k, v in mapping.items() if v is not None and v not in OPEN311_STATUSES)
        if wrong:
            raise ValueError(f"{wrong} map to a status an agency may not send from Open311 "
                             "(assigned, reporter_replied, disposed)")
        return mapping

    def service_code(self, category: Category) -> str:
        return self.service_codes.get(category.value) or self.service_codes["default"]

    def contract_status(self, server_status: str) -> Status | None:
        """The contract status of a server's status string; unknown ones are no status."""
        if server_status in self.status_map:
            return self.status_map[server_status]
        return DEFAULT_STATUS_MAP.get(server_status)


AgencyBridge = Annotated[WebhookAgency | Open311Agency, Field(discriminator="mode")]


class BridgeFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    replay_window_s: float = Field(300.0, gt=0, description="How far a signed call's timestamp "
                                   "may be from the bridge's clock.")
    retry_base_s: float = Field(1.0, gt=0, description="First retry wait (doubles per try).")
    retry_cap_s: float = Field(300.0, gt=0, description="Longest wait between two tries.")
    agencies: dict[AgencyId, AgencyBridge]

    @model_validator(mode="after")
    def _some(self) -> BridgeFile:
        if not self.agencies:
            raise ValueError("no agency configured")
        return self


@dataclass(frozen=True)
class Target:
    """A signed webhook the bridge delivers to: an agency's own endpoint (`unit_id` None) or
    one of its units'. Its settings (rate, timeout, give_up_after_s), keys and secret are its
    own: a unit's calls are never signed with its agency's keys, nor the other way round."""

    agency_id: str
    unit_id: str | None
    settings: Endpoint
    # Never in a repr (a log line, a traceback's locals): the keys and the secret line.
    keys: tuple[bytes, ...] = field(repr=False)  # one per active secret (two while rotating)
    secret: bytes = field(repr=False)  # the file's first line as written (deprecated X-Lapor)

    @property
    def name(self) -> str:
        """`pln`, or `pemda-32-73/dinas-pupr`: its rate bucket's and health part's name."""
        return self.agency_id if self.unit_id is None else f"{self.agency_id}/{self.unit_id}"


@dataclass(frozen=True)
class BridgeConfig:
    """The checked file with each agency's secret read: what the bridge runs with."""

    file: BridgeFile
    secrets: dict[str, bytes]  # agency id -> the file's first line: api_key (open311) or secret
    # A webhook agency's HMAC keys (Standard Webhooks), one per active secret (two while rotating).
    keys: dict[str, tuple[bytes, ...]] = field(default_factory=dict)
    # (agency id, unit id) -> the unit's own endpoint, keys and secret, read at start.
    units: dict[tuple[str, str], Target] = field(default_factory=dict)

    @property
    def agencies(self) -> dict[str, WebhookAgency | Open311Agency]:
        return self.file.agencies

    def agency(self, agency_id: str) -> WebhookAgency | Open311Agency:
        try:
            return self.file.agencies[agency_id]
        except KeyError:
            raise BridgeConfigError(f"agency {agency_id!r} is not in the bridge file") from None

    def webhook_target(self, agency_id: str) -> Target:
        """A webhook agency's own endpoint (an Open311 agency has no webhook of its own)."""
        agency = self.agency(agency_id)
        if not isinstance(agency, WebhookAgency):
            raise BridgeConfigError(f"agency {agency_id!r} is served by Open311, not a webhook")
        return Target(agency_id, None, agency, self.keys[agency_id], self.secrets[agency_id])

    def unit_target(self, agency_id: str, unit_id: str | None) -> Target | None:
        """The unit's own endpoint, if its agency configured one (None: it has none)."""
        return None if unit_id is None else self.units.get((agency_id, unit_id))

    def unit_targets(self, agency_id: str) -> list[Target]:
        """The agency's units' endpoints, in the file's order."""
        return [self.units[(agency_id, u)] for u in self.agency(agency_id).units]


def parse_config(text: str, source: str, known_agencies: Iterable[str],
                 base_dir: Path) -> BridgeConfig:
    """Check a bridge file's text whole; every problem is named in one error."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise BridgeConfigError(f"{source}: not valid YAML: {exc}") from None
    try:
        parsed = BridgeFile.model_validate(data)
    except ValidationError as exc:
        lines = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_url=False)]
        raise BridgeConfigError(f"{source}: " + "; ".join(lines)) from None
    known = set(known_agencies)
    problems = [f"agencies.{a}: not a registered agency" for a in parsed.agencies if a not in known]
    secrets: dict[str, bytes] = {}
    keys: dict[str, tuple[bytes, ...]] = {}
    for agency_id, agency in parsed.agencies.items():
        path = agency.secret_file if isinstance(agency, WebhookAgency) else agency.api_key_file
        path = path if path.is_absolute() else base_dir / path
        lines, problem = _read_secret(path)
        if not problem and isinstance(agency, WebhookAgency):
            found, problem = _webhook_keys(path, lines)
            keys[agency_id] = found
        if problem:
            problems.append(f"agencies.{agency_id}: {problem}")
        secrets[agency_id] = lines[0].encode("utf-8") if lines else b""
    units: dict[tuple[str, str], Target] = {}
    for agency_id, agency in parsed.agencies.items():
        for unit_id, unit in agency.units.items():
            target, problem = _unit_target(agency_id, unit_id, unit, base_dir)
            if problem:
                problems.append(f"agencies.{agency_id}.units.{unit_id}: {problem}")
            else:
                units[(agency_id, unit_id)] = target
    problems += _shared_unit_keys(keys, units)
    if problems:
        raise BridgeConfigError(f"{source}: " + "; ".join(problems))
    return BridgeConfig(parsed, secrets, keys, units)


def _shared_unit_keys(agency_keys: dict[str, tuple[bytes, ...]],
                      units: dict[tuple[str, str], Target]) -> list[str]:
    """A unit whose secret is an agency's, or another unit's: the agency's key accepts status
    calls, so the unit's system could speak as the agency. Each unit has a secret of its own."""
    holder = {key: f"agencies.{a}" for a, found in agency_keys.items() for key in found}
    problems = []
    for (agency_id, unit_id), target in units.items():
        here = f"agencies.{agency_id}.units.{unit_id}"
        shared = {holder.setdefault(key, here) for key in target.keys} - {here}
        if shared:
            problems.append(f"{here}: its secret is also {min(shared)}'s (a unit's secret is its own: "
                            "whoever holds an agency's could post statuses as that agency)")
    return problems


def _unit_target(agency_id: str, unit_id: str, unit: UnitEndpoint,
                 base_dir: Path) -> tuple[Target, str | None]:
    """A unit's endpoint with its secret read and checked as an agency's is. Only `whsec_`
    secrets: a unit's endpoint is new, so it never had the deprecated form to keep."""
    path = unit.secret_file if unit.secret_file.is_absolute() else base_dir / unit.secret_file
    lines, problem = _read_secret(path)
    keys: tuple[bytes, ...] = ()
    if not problem:
        plain = [n for n, line in enumerate(lines, 1) if not line.startswith(SECRET_PREFIX)]
        if plain:
            problem = f"secret file {path}: line {plain[0]} is not a {SECRET_PREFIX} secret"
        else:
            keys, problem = _webhook_keys(path, lines)
    secret = lines[0].encode("utf-8") if lines and not problem else b""
    return Target(agency_id, unit_id, unit, keys, secret), problem


def _read_secret(path: Path) -> tuple[list[str], str | None]:
    """A secret file's lines, stripped, blank ones left out."""
    try:
        mode = path.stat().st_mode
        lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    except OSError as exc:
        return [], f"cannot read secret file {path} ({exc.strerror})"
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        return [], f"secret file {path} is readable by others (chmod 600)"
    if not lines or not lines[0]:
        return [], f"secret file {path} is empty"
    return [line for line in lines if line], None


def _webhook_keys(path: Path, lines: list[str]) -> tuple[tuple[bytes, ...], str | None]:
    """At most two active secrets (the new and the old, while rotating)."""
    if len(lines) > 2:
        return (), f"secret file {path} holds {len(lines)} secrets (at most two: the new and the old)"
    try:
        return tuple(webhook_key(line) for line in lines), None
    except ValueError as exc:
        return (), f"secret file {path}: {exc}"


def load_config(path: Path | None, known_agencies: Iterable[str]) -> BridgeConfig:
    if path is None:
        raise BridgeConfigError("LAPOR_BRIDGE_FILE is not set: the bridge needs its agencies "
                                "(see docs/operators/agencies.md, the bridge's configuration)")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BridgeConfigError(f"LAPOR_BRIDGE_FILE={path}: {exc.strerror}") from None
    return parse_config(text, str(path), known_agencies, path.parent)
