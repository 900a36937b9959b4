"""Client certificates for Kafka clients that cannot use SCRAM (librdkafka before 2.6.1, as
Debian 12 and Ubuntu 24.04 ship it, and the PHP, Node and Go clients built on it).

`lapor access issue-cert USER` signs, with the deployment's CA, a certificate whose subject
is `OU=lapor-client, CN=<USER>.tls-<serial>`: on the broker's CERTS listener that CN is the
principal (broker_security.CERT_PRINCIPAL_RULE), and it gets exactly USER's grants. Each
certificate is a principal of its own, so `lapor access revoke-cert` takes one away (its
grants go; every request on its connections is refused from then on) without touching the
user's SCRAM login or other certificates. The issued certificates are recorded in
`LAPOR_ACCESS_DIR/certs/issued.json` (no key: the private key goes only to the holder)."""

from __future__ import annotations

import json
import secrets
import shutil
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from services.runtime.settings import Settings
from services.tools.broker_security import (
    CLIENT_CERT_OU, SecuritySetupError, _openssl, ensure_files, write_private,
)

CERT_DAYS = 825
SUFFIX = ".tls-"


@dataclass(frozen=True)
class IssuedCert:
    principal: str  # the Kafka principal's name: "<user>.tls-<serial>"
    user: str  # whose grants it carries
    serial: str
    issued_at: str
    revoked_at: str | None = None


def user_of_principal(name: str) -> str:
    """The user a certificate principal stands for (the name itself for any other)."""
    return name.split(SUFFIX, 1)[0]


def _registry(settings: Settings) -> Path:
    return settings.access_dir.resolve() / "certs" / "issued.json"


def issued(settings: Settings) -> list[IssuedCert]:
    path = _registry(settings)
    if not path.exists():
        return []
    return [IssuedCert(**item) for item in json.loads(path.read_text())]


def _save(settings: Settings, certs: list[IssuedCert]) -> None:
    write_private(_registry(settings), json.dumps([asdict(c) for c in certs], indent=1) + "\n")


def issue(settings: Settings, user: str, target: Path) -> tuple[IssuedCert, dict[str, Path]]:
    """Key and certificate for `user` in `target` (the key readable by its owner only), with
    the CA certificate beside them."""
    sec = ensure_files(settings)
    work = sec.directory / "ca"
    if not (work / "ca.key").exists():
        raise SecuritySetupError(f"no CA key in {work}: certificates are issued where the "
                                 "deployment's CA was made")
    serial = secrets.token_hex(4)
    cert = IssuedCert(f"{user}{SUFFIX}{serial}", user, serial,
                      datetime.now(UTC).isoformat(timespec="seconds"))
    target.mkdir(parents=True, exist_ok=True)
    files = {"key": target / f"{user}.key", "cert": target / f"{user}.pem", "ca": target / "ca.pem"}
    csr = work / f"{cert.principal}.csr"
    ext = work / "client.ext"
    ext.write_text("extendedKeyUsage=clientAuth\n")
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj",
             f"/OU={CLIENT_CERT_OU}/CN={cert.principal}", "-keyout", str(files["key"]),
             "-out", str(csr), cwd=work)
    files["key"].chmod(0o600)
    _openssl("x509", "-req", "-in", str(csr), "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-days", str(CERT_DAYS), "-extfile", str(ext),
             "-out", str(files["cert"]), cwd=work)
    csr.unlink()
    shutil.copyfile(sec.ca_cert, files["ca"])
    _save(settings, [*issued(settings), cert])
    return cert, files


def revoke(settings: Settings, principal: str) -> IssuedCert:
    certs = issued(settings)
    match = next((c for c in certs if c.principal == principal), None)
    if match is None:
        raise ValueError(f"no certificate {principal!r} was issued here (`lapor access certs` lists them)")
    revoked = IssuedCert(**{**asdict(match), "revoked_at": match.revoked_at or
                            datetime.now(UTC).isoformat(timespec="seconds")})
    _save(settings, [revoked if c.principal == principal else c for c in certs])
    return revoked
