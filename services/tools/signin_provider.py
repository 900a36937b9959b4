"""The OpenID Connect provider for the demo, the tests and a laptop: Keycloak, fetched from
Maven Central (`org.keycloak:keycloak-quarkus-dist`), run as a plain Java process on
127.0.0.1 with an in-memory database, and given the `lapor` realm through its admin API.

Production uses the government's own provider instead: only LAPOR_OIDC_* change. What the
realm holds is what an operator sets up there: a confidential client for the staff pages,
the groups that become roles (README, "Sign-in"), and a `groups` claim in the ID token.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.runtime.settings import Settings
from services.tools.broker import free_port

KEYCLOAK_VERSION = "26.5.6"
REALM = "lapor"
CLIENT_ID = "lapor-staff"
ADMIN_USER = "lapor-provider-admin"
# Pages on this machine, on any port: Keycloak matches a loopback redirect URI whatever its
# port (RFC 8252), and nothing else. The demo and the tests use these. Over https (behind
# the TLS proxy, `lapor proxy`), the desk and the operations page at desk.localhost and
# ops.localhost (a browser's loopback names), on any port: Keycloak's port rule is for
# http only, so the port is a trailing wildcard there.
LOOPBACK_REDIRECTS = ["http://127.0.0.1/*", "http://localhost/*",
                      "https://desk.localhost:*", "https://ops.localhost:*"]
START_ERROR = "start-error"  # in the state folder: why the last start failed


class ProviderError(RuntimeError):
    """The provider could not be fetched or started; the message says what to do."""


@dataclass(frozen=True)
class StaffAccount:
    username: str
    password: str
    groups: tuple[str, ...]


# The demo's and tests' accounts (development only: the passwords are in the README).
DEMO_ACCOUNTS = (
    StaffAccount("operator", "operator-demo", ("national-operator",)),
    StaffAccount("pln", "pln-demo", ("agency-pln",)),
    StaffAccount("bpjs", "bpjs-demo", ("agency-bpjs-kesehatan",)),
    # Kota Bandung's admin, and the staff of one of its units (a subgroup of the agency's).
    StaffAccount("bandung", "bandung-demo", ("agency-pemda-32-73",)),
    StaffAccount("pupr", "pupr-demo", ("agency-pemda-32-73/unit-dinas-pupr",)),
    StaffAccount("nobody", "nobody-demo", ()),
)


@dataclass(frozen=True)
class RunningProvider:
    base_url: str  # http://127.0.0.1:<port>
    client_secret: str

    @property
    def issuer(self) -> str:
        return f"{self.base_url}/realms/{REALM}"


def home(settings: Settings) -> Path:
    return settings.broker_cache / f"keycloak-{KEYCLOAK_VERSION}"


def fetch(settings: Settings) -> Path:
    """Download and unpack Keycloak once; later calls return the cached folder."""
    target = home(settings)
    if (target / ".complete").exists():
        return target
    for tool in ("mvn", "java"):
        if shutil.which(tool) is None:
            raise ProviderError(f"'{tool}' is not on PATH: the sign-in provider needs Java 17+ and Maven")
    download = settings.broker_cache / "keycloak-download"
    download.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        ["mvn", "-q", "-B", "dependency:copy",
         f"-Dartifact=org.keycloak:keycloak-quarkus-dist:{KEYCLOAK_VERSION}:zip",
         f"-DoutputDirectory={download}"], capture_output=True, text=True, timeout=900)
    archive = download / f"keycloak-quarkus-dist-{KEYCLOAK_VERSION}.zip"
    if proc.returncode != 0 or not archive.exists():
        raise ProviderError(f"Maven could not fetch keycloak-quarkus-dist {KEYCLOAK_VERSION}:\n"
                            + (proc.stdout + proc.stderr)[-3000:])
    with zipfile.ZipFile(archive) as z:
        z.extractall(settings.broker_cache)
    for script in (target / "bin").glob("*.sh"):
        script.chmod(0o755)
    archive.unlink()
    (target / ".complete").write_text(KEYCLOAK_VERSION)
    return target


def realm(redirect_uris: list[str], client_secret: str,
          accounts: tuple[StaffAccount, ...] = DEMO_ACCOUNTS, root: str = "/lapor") -> dict[str, Any]:
    """The realm as Keycloak imports it: one confidential client with the code flow and
    PKCE (S256) required, a `groups` claim of full group paths in its tokens, and the
    accounts with their groups (each under `root`, LAPOR_STAFF_GROUP_ROOT; a group path with a
    `/`, a unit's `agency-<id>/unit-<unit>`, is a subgroup of its agency's group)."""
    groups = _group_tree(sorted({g for a in accounts for g in a.groups}))
    parents = [p for p in root.split("/") if p]
    tree: dict[str, Any] = {"name": parents[-1], "subGroups": groups} if parents else {}
    for parent in reversed(parents[:-1]):
        tree = {"name": parent, "subGroups": [tree]}
    return {
        "realm": REALM, "enabled": True, "sslRequired": "external",
        "groups": [tree] if parents else groups,
        "clients": [{
            "clientId": CLIENT_ID, "enabled": True, "protocol": "openid-connect",
            "publicClient": False, "secret": client_secret,
            "standardFlowEnabled": True, "directAccessGrantsEnabled": False,
            "implicitFlowEnabled": False, "serviceAccountsEnabled": False,
            "redirectUris": redirect_uris,
            "attributes": {"pkce.code.challenge.method": "S256",
                           "post.logout.redirect.uris": "+"},
            "protocolMappers": [{
                "name": "groups", "protocol": "openid-connect",
                "protocolMapper": "oidc-group-membership-mapper",
                "config": {"claim.name": "groups", "full.path": "true", "id.token.claim": "true",
                           "access.token.claim": "true", "userinfo.token.claim": "true"}}],
        }],
        "users": [{
            "username": a.username, "enabled": True, "emailVerified": True,
            "firstName": a.username.capitalize(), "lastName": "Demo",
            "email": f"{a.username}@lapor.invalid",
            "credentials": [{"type": "password", "value": a.password, "temporary": False}],
            "groups": [f"{root.rstrip('/')}/{g}" for g in a.groups]} for a in accounts],
    }


def _group_tree(paths: list[str]) -> list[dict[str, Any]]:
    """Keycloak's group representations for relative paths: `a/b` is `b` under `a`."""
    children: dict[str, list[str]] = {}
    for path in paths:
        head, _, rest = path.partition("/")
        children.setdefault(head, [])
        if rest:
            children[head].append(rest)
    return [{"name": name, "subGroups": _group_tree(sub)} if sub else {"name": name}
            for name, sub in children.items()]


# Creating the realm hashes every account's password and builds the client's defaults: on two
# busy cores (a test run beside it) that took longer than 10 s. The admin calls may take this.
ADMIN_CALL_TIMEOUT_S = 180.0


def _request(url: str, data: bytes | None = None, headers: dict[str, str] | None = None,
             method: str | None = None, timeout_s: float = 10.0) -> Any:
    req = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    with urllib.request.urlopen(req, timeout=timeout_s) as answer:  # noqa: S310 (our own loopback)
        body = answer.read()
    return json.loads(body) if body else None


def _admin_token(base_url: str, password: str) -> str:
    form = urllib.parse.urlencode({"grant_type": "password", "client_id": "admin-cli",
                                   "username": ADMIN_USER, "password": password}).encode()
    return str(_request(f"{base_url}/realms/master/protocol/openid-connect/token", form,
                        timeout_s=ADMIN_CALL_TIMEOUT_S)["access_token"])


def import_realm(base_url: str, admin_password: str, body: dict[str, Any]) -> None:
    """Create (or replace) the realm through the admin REST API."""
    token = _admin_token(base_url, admin_password)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    try:
        _request(f"{base_url}/admin/realms/{REALM}", headers=headers, method="DELETE",
                 timeout_s=ADMIN_CALL_TIMEOUT_S)
    except urllib.error.HTTPError as exc:
        if exc.code != 404:
            raise
    _request(f"{base_url}/admin/realms", json.dumps(body).encode(), headers, "POST",
             timeout_s=ADMIN_CALL_TIMEOUT_S)


def state_dir(settings: Settings) -> Path:
    return (settings.broker_dir / "provider").resolve()


def start(settings: Settings, redirect_uris: list[str], port: int | None = None,
          timeout_s: float = 300.0) -> RunningProvider:
    """Start Keycloak (or find the one of this state folder running) and import the realm.
    Beside a starting test run on two cores it took 92 s to answer (20 s on an idle machine)."""
    state = state_dir(settings)
    running = running_provider(settings)
    if running is not None:
        return running
    kc = fetch(settings)
    state.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    admin_password, client_secret = os.urandom(12).hex(), os.urandom(16).hex()
    env = {**os.environ, "KC_BOOTSTRAP_ADMIN_USERNAME": ADMIN_USER,
           "KC_BOOTSTRAP_ADMIN_PASSWORD": admin_password, "JAVA_OPTS_KC_HEAP": "-Xms128m -Xmx512m"}
    cmd = [str(kc / "bin" / "kc.sh"), "start-dev", "--db=dev-mem", "--cache=local",
           "--http-host=127.0.0.1", f"--http-port={port}", "--health-enabled=true",
           f"--http-management-port={free_port()}", "--hostname-strict=false"]
    for left_over in (START_ERROR, "provider.url", "client-secret"):  # of an earlier start
        (state / left_over).unlink(missing_ok=True)
    with open(state / "provider.log", "ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    # The pid first, so `stop` finds the process whatever happens next; the address last, so
    # `running_provider` answers only once the realm is in.
    (state / "provider.pid").write_text(str(proc.pid))
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_answering(proc, base_url, state, timeout_s)
        import_realm(base_url, admin_password, realm(redirect_uris, client_secret))
    except BaseException as exc:
        # A provider without its realm is no use to anyone: stop it rather than leave an
        # orphaned JVM, and leave the reason where a waiting test process reads it.
        error = exc
        if isinstance(exc, Exception) and not isinstance(exc, ProviderError):
            error = ProviderError(f"Keycloak answered, but the realm could not be set up through "
                                  f"its admin API ({exc}); see {state / 'provider.log'}")
        (state / START_ERROR).write_text(str(error))
        stop(settings)
        if error is exc:
            raise
        raise error from exc
    secret = state / "client-secret"
    secret.write_text(client_secret)
    secret.chmod(0o600)
    (state / "provider.url").write_text(base_url)
    return RunningProvider(base_url, client_secret)


def _wait_until_answering(proc: subprocess.Popen[bytes], base_url: str, state: Path,
                          timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        if proc.poll() is not None:
            raise ProviderError(f"Keycloak exited with {proc.returncode}; see {state / 'provider.log'}")
        try:
            _request(f"{base_url}/realms/master/.well-known/openid-configuration")
            return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            if time.monotonic() > deadline:
                raise ProviderError(f"Keycloak did not answer within {timeout_s:.0f}s") from None
            time.sleep(0.5)


def start_error(settings: Settings) -> str | None:
    """Why the last start in this state folder failed, if it did."""
    try:
        return (state_dir(settings) / START_ERROR).read_text()
    except FileNotFoundError:
        return None


def running_provider(settings: Settings) -> RunningProvider | None:
    state = state_dir(settings)
    try:
        pid = int((state / "provider.pid").read_text())
        os.kill(pid, 0)
        return RunningProvider((state / "provider.url").read_text().strip(),
                               (state / "client-secret").read_text().strip())
    except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
        return None


def stop(settings: Settings, timeout_s: float = 30.0) -> bool:
    state = state_dir(settings)
    try:
        pid = int((state / "provider.pid").read_text())
    except (FileNotFoundError, ValueError):
        return False
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        (state / "provider.pid").unlink(missing_ok=True)
        return False
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
            time.sleep(0.2)
        except ProcessLookupError:
            break
    else:
        os.killpg(pid, signal.SIGKILL)
    (state / "provider.pid").unlink(missing_ok=True)
    return True


def client_settings(provider: RunningProvider, folder: Path) -> dict[str, object]:
    """The LAPOR_* settings of a desk or ops_view worker signing staff in with `provider`:
    its client secret and a session key, each in a file only its owner reads."""
    folder.mkdir(parents=True, exist_ok=True)
    secret, key = folder / "oidc-client.secret", folder / "staff-session.key"
    secret.write_text(provider.client_secret + "\n")  # the provider's, as of its start
    if not key.exists():  # kept: sessions outlive a worker's restart
        key.write_text(base64.urlsafe_b64encode(os.urandom(32)).decode() + "\n")
    for path in (secret, key):
        path.chmod(0o600)
    return {"oidc_issuer": provider.issuer, "oidc_client_id": CLIENT_ID,
            "oidc_client_secret_file": secret, "staff_session_key_file": key}


def admin_secret_file(folder: Path) -> Path:
    """The provider's bootstrap admin secret for a deployment (compose), made once."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "admin.secret"
    if not path.exists():
        path.write_text(os.urandom(18).hex() + "\n")
    path.chmod(0o600)
    return path


def configure(url: str, public_url: str, admin_password: str, redirect_uris: list[str],
              outs: list[Path], accounts_file: Path, timeout_s: float = 300.0) -> RunningProvider:
    """Give a running Keycloak (a deployment's, at `url` from here) the `lapor` realm with a
    fresh client secret and fresh passwords for the demo accounts: the secret and a session
    key go to each folder of `outs` (one per site: the desk's and ops_view's keys differ, so
    one site's key cannot make the other's sessions), the accounts to `accounts_file` (0600, for
    the operator), never to a log."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            _admin_token(url, admin_password)
            break
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            if time.monotonic() > deadline:
                raise ProviderError(f"the provider at {url} did not answer within {timeout_s:.0f}s") from None
            time.sleep(2)
    accounts = tuple(StaffAccount(a.username, os.urandom(9).hex(), a.groups) for a in DEMO_ACCOUNTS)
    secret = os.urandom(16).hex()
    import_realm(url, admin_password, realm(redirect_uris, secret, accounts))
    provider = RunningProvider(public_url.rstrip("/"), secret)
    for folder in outs:  # a folder per site: the client secret, and a session key of its own
        client_settings(provider, folder)
    accounts_file.parent.mkdir(parents=True, exist_ok=True)
    accounts_file.write_text("".join(f"{a.username} {a.password} {','.join(a.groups) or '-'}\n"
                                     for a in accounts))
    accounts_file.chmod(0o600)
    return provider
