"""Authentication and authorisation of the embedded broker and the local cluster.

Clients (services, channels, agencies, operators) connect with SASL/SCRAM-SHA-512 over TLS;
brokers and controllers talk to each other over mutual TLS (KRaft's controller listener
cannot use SCRAM: its credentials live in the metadata the controller serves). Kafka's own
`StandardAuthorizer` decides every request, deny by default; the operator's `lapor-admin`
and the brokers' certificate are the only super users.

Development certificates are made once with `openssl` (a CA, and one broker certificate for
127.0.0.1 and localhost that serves and, between brokers, identifies) and kept in
`LAPOR_ACCESS_DIR` with the admin's secret. Production brings its own CA and secrets.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from services.runtime.settings import Settings

ADMIN_USER = "lapor-admin"
BROKER_PRINCIPAL = "User:CN=lapor-broker"
AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"


class SecuritySetupError(RuntimeError):
    """The development certificates or secrets could not be made."""


@dataclass(frozen=True)
class BrokerSecurity:
    """The files a secured broker and its first client (the admin) need."""

    directory: Path

    @property
    def ca_cert(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def keystore(self) -> Path:
        return self.directory / "broker.p12"

    @property
    def keystore_password_file(self) -> Path:
        return self.directory / "broker.p12.password"

    @property
    def admin_secret(self) -> Path:
        return secret_file(self.directory, ADMIN_USER)


def secret_file(directory: Path, user: str) -> Path:
    return directory / "secrets" / f"{user}.secret"


def write_private_bytes(path: Path, data: bytes) -> None:
    """A file only its owner can read (a secret, a keystore, properties holding passwords),
    written whole and then moved into place, so it is never readable by others even for a
    moment."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # O_CREAT's mode does not apply to a leftover file
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    tmp.replace(path)


def write_private(path: Path, text: str) -> None:
    write_private_bytes(path, text.encode("utf-8"))


def write_secret(path: Path, secret: str) -> None:
    """A secret file only its owner can read: the secret on its first line."""
    write_private(path, secret + "\n")


def fingerprint(secret_path: Path) -> str:
    """A short digest of a secret file: it tells two credentials apart without keeping or
    showing either (the secrets are random, 256 bits)."""
    return hashlib.sha256(secret_path.read_bytes().strip()).hexdigest()[:16]


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def _openssl(*args: str, cwd: Path) -> None:
    proc = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SecuritySetupError(f"openssl {args[0]} failed: {proc.stderr[-1500:]}")


def ensure_files(settings: Settings, hosts: tuple[str, ...] = ()) -> BrokerSecurity:
    """Make (once) the development CA, the broker's keystore and the admin's secret; the
    broker certificate names 127.0.0.1, localhost and `hosts` (e.g. a compose service)."""
    sec = BrokerSecurity(settings.access_dir.resolve())
    if not sec.admin_secret.exists():
        write_secret(sec.admin_secret, new_secret())
    if sec.keystore.exists() and sec.ca_cert.exists():
        return sec
    if shutil.which("openssl") is None:
        raise SecuritySetupError("'openssl' is not on PATH: it makes the development "
                                 "certificates (apt-get install openssl)")
    d = sec.directory
    d.mkdir(parents=True, exist_ok=True)
    work = d / "ca"
    work.mkdir(exist_ok=True, mode=0o700)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
             "-subj", "/CN=lapor-router development CA", "-keyout", "ca.key", "-out", "ca.pem",
             cwd=work)
    names = ",".join(["IP:127.0.0.1", "DNS:localhost", *(f"DNS:{h}" for h in hosts)])
    (work / "broker.ext").write_text(f"subjectAltName={names}\n"
                                     "extendedKeyUsage=serverAuth,clientAuth\n")
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=lapor-broker",
             "-keyout", "broker.key", "-out", "broker.csr", cwd=work)
    _openssl("x509", "-req", "-in", "broker.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-days", "825", "-extfile", "broker.ext", "-out", "broker.pem",
             cwd=work)
    write_secret(sec.keystore_password_file, new_secret())
    # The password is read from its file: never on a command line (`ps` shows those).
    _openssl("pkcs12", "-export", "-in", "broker.pem", "-inkey", "broker.key",
             "-certfile", "ca.pem", "-name", "lapor-broker", "-out", str(sec.keystore),
             "-passout", f"file:{sec.keystore_password_file}", cwd=work)
    for private in (work / "ca.key", work / "broker.key", sec.keystore):
        private.chmod(0o600)
    shutil.copyfile(work / "ca.pem", sec.ca_cert)
    return sec


def as_principal(settings: Settings, user: str) -> Settings:
    """The same settings as another provisioned principal (its secret from LAPOR_ACCESS_DIR)."""
    if settings.kafka_security == "PLAINTEXT":
        return settings
    return settings.model_copy(update={"kafka_user": user,
                                       "kafka_password_file": secret_file(settings.access_dir, user)})


def admin_settings(settings: Settings) -> Settings:
    """`settings` as the operator's super user of the embedded broker (and its CA)."""
    if settings.kafka_security == "PLAINTEXT":
        return settings
    sec = BrokerSecurity(settings.access_dir.resolve())
    return as_principal(settings, ADMIN_USER).model_copy(update={
        "kafka_password_file": sec.admin_secret, "kafka_ca_file": sec.ca_cert})


# A client certificate's subject is `OU=lapor-client, CN=<principal>` (`lapor access
# issue-cert`); on the CERTS listener its principal is the CN. Other subjects keep Kafka's
# default (the whole DN), which no grant names.
CLIENT_CERT_OU = "lapor-client"
CERT_PRINCIPAL_RULE = rf"RULE:^CN=([a-z0-9.-]+),OU={CLIENT_CERT_OU}$/$1/,DEFAULT"


def listener_properties(settings: Settings, client: str, replication: str, controller: str,
                        advertised_client: str, advertised_replication: str | None = None,
                        installed: BrokerSecurity | None = None,
                        certs: tuple[str, str] | None = None) -> list[str]:
    """Listeners of one node: host:port of its CLIENT, REPLICATION and CONTROLLER listeners,
    and (`certs`: bind and advertised host:port) the CERTS listener, where clients log in
    with a client certificate instead of SCRAM (older librdkafka cannot do SCRAM with Kafka
    4, see the README's client table). `installed`: where the node finds its keystore and the
    CA certificate, when not in the access directory (see `install_broker_files`)."""
    with_certs = certs is not None and settings.kafka_security != "PLAINTEXT"
    extra = f",CERTS://{certs[0]}" if with_certs and certs else ""
    extra_advertised = f",CERTS://{certs[1]}" if with_certs and certs else ""
    listeners = [
        f"listeners=CLIENT://{client},REPLICATION://{replication},CONTROLLER://{controller}{extra}",
        f"advertised.listeners=CLIENT://{advertised_client},"
        f"REPLICATION://{advertised_replication or replication}{extra_advertised}",
        "inter.broker.listener.name=REPLICATION",
        "controller.listener.names=CONTROLLER",
    ]
    if settings.kafka_security == "PLAINTEXT":  # asked for explicitly: development only
        return [*listeners, "listener.security.protocol.map="
                "CLIENT:PLAINTEXT,REPLICATION:PLAINTEXT,CONTROLLER:PLAINTEXT"]
    sec = ensure_files(settings)
    store_password = sec.keystore_password_file.read_text().strip()
    node_files = installed or sec
    cert_listener = [
        "listener.name.certs.ssl.client.auth=required",
        f"listener.name.certs.ssl.principal.mapping.rules={CERT_PRINCIPAL_RULE}",
    ] if with_certs else []
    return [
        *listeners,
        "listener.security.protocol.map=CLIENT:SASL_SSL,REPLICATION:SSL,CONTROLLER:SSL"
        + (",CERTS:SSL" if with_certs else ""),
        *cert_listener,
        "listener.name.client.sasl.enabled.mechanisms=SCRAM-SHA-512",
        "listener.name.client.scram-sha-512.sasl.jaas.config="
        "org.apache.kafka.common.security.scram.ScramLoginModule required;",
        # Between brokers and to the controllers: the broker certificate is the identity.
        "listener.name.replication.ssl.client.auth=required",
        "listener.name.controller.ssl.client.auth=required",
        "ssl.keystore.type=PKCS12",
        f"ssl.keystore.location={node_files.keystore}",
        f"ssl.keystore.password={store_password}",
        f"ssl.key.password={store_password}",
        "ssl.truststore.type=PEM",
        f"ssl.truststore.location={node_files.ca_cert}",
        f"authorizer.class.name={AUTHORIZER}",
        "allow.everyone.if.no.acl.found=false",
        f"super.users=User:{ADMIN_USER};{BROKER_PRINCIPAL}",
    ]


def install_broker_files(settings: Settings, target: Path) -> BrokerSecurity:
    """Copy what a broker node needs of the access directory (its keystore and the CA
    certificate, no CA key and no client secret) into `target`: the files a broker container
    mounts. The keystore stays readable by its owner only."""
    sec = ensure_files(settings)
    node = BrokerSecurity(target)
    target.mkdir(parents=True, exist_ok=True)
    write_private_bytes(node.keystore, sec.keystore.read_bytes())
    shutil.copyfile(sec.ca_cert, node.ca_cert)
    return node


def hand_out(settings: Settings, user: str, target: Path) -> Path:
    """Put a principal's secret (0600) and the CA certificate into `target`, the directory
    that only that principal's process mounts; returns the secret file's path there."""
    secret = secret_file(settings.access_dir, user)
    if not secret.exists():
        raise SecuritySetupError(f"no secret for {user} in {secret.parent}: provision it first "
                                 "(`lapor access provision`)")
    placed = target / secret.name
    write_private_bytes(placed, secret.read_bytes())
    shutil.copyfile(BrokerSecurity(settings.access_dir.resolve()).ca_cert, target / "ca.pem")
    return placed


def format_arguments(settings: Settings) -> list[str]:
    """StorageTool arguments that create the admin's SCRAM credential with the metadata. They
    hold the admin's password: pass them in a private argument file (`storage_format`), never
    on the command line."""
    if settings.kafka_security == "PLAINTEXT":
        return []
    secret = ensure_files(settings).admin_secret.read_text().strip()
    return ["--add-scram", f"SCRAM-SHA-512=[name={ADMIN_USER},password={secret}]"]
