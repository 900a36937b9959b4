"""The compose deployment as an operator runs it: `scripts/stack up` builds the images from
Debian's packages and brings docker-compose.yml up with podman-compose; then the parties of
the system, each as its own principal in a container on the compose network, use it:

- the web channel submits a complaint and the SMS gateway an anonymous SMS;
- the agency (PLN) reads both on its topic, the SMS sender's number on neither;
- a tick a month ahead (the national admin's) makes escalations;
- each channel reads its reply on its own notifications topic;
- PLN posts a signed status to the bridge's door through the TLS proxy, with the secret the
  operator reads out to hand over, and the router judges it;
- the TLS proxy (Debian's nginx) is the only published port, on 127.0.0.1: through it, over
  https with the certificate `proxy-files` made, the ops page, the desk, lacak, the bridge's
  door and the sign-in provider answer by name (the provider's admin console does not), and
  an X-Forwarded-For a client writes is not believed;
- Prometheus scrapes every worker (the desk and the bridge too) and Keycloak, and every
  query of the Grafana dashboard has a series;
- least privilege: each container mounts only its own secret (the agencies' bridge secrets:
  the bridge and the step that makes them, nothing else), runs as uid 10001 on a read-only
  root, secret files are 0600, no worker serves faust's table views, no log holds a secret;
- the deployment's own agencies file (LAPOR_STACK_CONFIG, read-only in every lapor
  container): an agency of its own is provisioned and logs in; the bridge commands run where
  they can, skip from the operator's `cli`, check and redeliver in the bridge's container;
- a graceful stop (the workers, Keycloak, the proxy) logs no crash, and `scripts/stack down`
  leaves nothing behind.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import shutil
import socket
import ssl
import stat
import subprocess
import tempfile
import time
import urllib.parse
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml
from standardwebhooks import Webhook

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "lapor-stacktest"
NETWORK = f"{PROJECT}_default"
IMAGE = "localhost/lapor-router:0.1.0"
# A network of its own beside an operator's `lapor` stack (10.89.77): the proxy is .250.
NET = os.environ.get("LAPOR_STACK_NET", "10.89.78")
ENV = {**os.environ, "LAPOR_STACK_PROJECT": PROJECT, "LAPOR_STACK_NET": NET,
       "CONTAINERS_CONF": str(ROOT / "ops/podman/containers.conf")}
HTTPS_PORT = 8443  # the proxy's published port: the only one
NAMES = {"desk": "desk.localhost", "ops": "ops.localhost", "lacak": "lacak.localhost",
         "bridge": "agencies.localhost", "signin": "masuk.localhost"}
WORKERS = {"intake": "svc-intake", "router": "svc-router", "sla_monitor": "svc-sla-monitor",
           "ops_view": "svc-ops-view", "status_gate": "svc-status-gate", "desk": "svc-desk",
           "bridge": "svc-bridge", "lacak": "svc-lacak", "disposition": "svc-disposition"}
SERVICES = {**WORKERS, "ticker": "svc-ticker"}
SMS_NUMBER = "+6281398765432"
# The deployment's configuration directory (LAPOR_STACK_CONFIG), with an agency of its own.
CONFIG = Path(tempfile.gettempdir()) / f"{PROJECT}-config"  # written by the `stack` fixture
OWN_AGENCY = "pdam-kota-bandung"
ENV["LAPOR_STACK_CONFIG"] = str(CONFIG)
# Every container given LAPOR_AGENCIES_FILE (x-lapor-env, bridge-files) mounts CONFIG.
READS_CONFIG = {"access-files", "provision", "bridge-files", *SERVICES}
T = TypeVar("T")

pytestmark = pytest.mark.stack


def sh(*cmd: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=timeout, cwd=ROOT)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {done.returncode}:\n{done.stdout[-2000:]}"
                             f"\n{done.stderr[-3000:]}")
    return done


def container(service: str) -> str:
    return f"{PROJECT}_{service}_1"


def volume_dir(name: str) -> Path:
    return Path(sh("podman", "volume", "inspect", f"{PROJECT}_{name}",
                   "--format", "{{.Mountpoint}}").stdout.strip())


def until(what: str, probe: Callable[[], T | None], timeout_s: float = 120) -> T:
    deadline = time.monotonic() + timeout_s
    while True:
        got = probe()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s:.0f}s: {what}")
        time.sleep(2)


class _Loopback(http.client.HTTPSConnection):
    """https://NAME:8443 on this machine's loopback (Python does not resolve *.localhost as
    browsers do): the TLS name and Host are NAME, the connection goes to 127.0.0.1."""

    def __init__(self, name: str, port: int, context: ssl.SSLContext, timeout: float):
        super().__init__(name, port, context=context, timeout=timeout)
        self.tls = context

    def connect(self) -> None:
        sock = socket.create_connection(("127.0.0.1", self.port), self.timeout)
        self.sock = self.tls.wrap_socket(sock, server_hostname=self.host)


def https(site: str, path: str, method: str = "GET", body: bytes | None = None,
          headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """A request through the proxy to a site by its public name, verifying the proxy's
    certificate against the CA `proxy-files` made it from (`proxy-tls/ca.pem`)."""
    context = ssl.create_default_context(cafile=str(volume_dir("proxy-tls") / "ca.pem"))
    connection = _Loopback(NAMES[site], HTTPS_PORT, context=context, timeout=15)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        answer = connection.getresponse()
        return answer.status, dict(answer.headers), answer.read()
    finally:
        connection.close()


def left_behind() -> list[str]:
    label = f"label=io.podman.compose.project={PROJECT}"
    containers = sh("podman", "ps", "-a", "--filter", label, "--format", "{{.Names}}").stdout.split()
    volumes = [v for v in sh("podman", "volume", "ls", "--format", "{{.Name}}").stdout.split()
               if v.startswith(f"{PROJECT}_")]
    networks = [n for n in sh("podman", "network", "ls", "--format", "{{.Name}}").stdout.split()
                if n == NETWORK]
    return containers + volumes + networks


@pytest.fixture(scope="module")
def stack() -> Iterator[dict[str, float]]:
    """The stack, up; its timings. Torn down whatever happens."""
    shutil.rmtree(CONFIG, ignore_errors=True)
    CONFIG.mkdir(mode=0o755)  # read by uid 10001 in the containers
    CONFIG.chmod(0o755)  # whatever the umask
    (CONFIG / "agencies.yaml").write_text(yaml.safe_dump({"agencies": [{
        "id": OWN_AGENCY, "name": "PDAM Tirtawening Kota Bandung", "kind": "state_owned",
        "regions": ["32.73"], "categories": ["water"]}]}))
    (CONFIG / "agencies.yaml").chmod(0o644)
    if shutil.which("podman") is not None:
        sh("bash", "scripts/stack", "down", timeout=300, check=False)  # a previous run's leftovers
    started = time.monotonic()
    sh("bash", "scripts/stack", "build", timeout=1800)
    built = time.monotonic()
    sh("bash", "scripts/stack", "up", timeout=900)
    up = time.monotonic()
    timings = {"build_s": built - started, "start_s": up - built}
    print(f"\nstack: images built in {timings['build_s']:.0f} s, started in {timings['start_s']:.0f} s")
    try:
        yield timings
    finally:
        sh("bash", "scripts/stack", "down", timeout=300, check=False)
        shutil.rmtree(CONFIG, ignore_errors=True)


class Party:
    """A principal's client: `lapor` in a throwaway container on the compose network, with
    only the secret the operator handed it (and the CA certificate)."""

    def __init__(self, user: str, home: Path):
        access = volume_dir("access")
        self.user, self.dir = user, home / user
        self.dir.mkdir(mode=0o700)
        shutil.copy(access / "secrets" / f"{user}.secret", self.dir)
        shutil.copy(access / "ca.pem", self.dir)
        for path in (self.dir, *self.dir.iterdir()):
            os.chown(path, 10001, 10001)

    def lapor(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return sh("podman", "run", "--rm", "--read-only", "--network", NETWORK,
                  "-v", f"{self.dir}:/client:ro",
                  "-e", "LAPOR_BOOTSTRAP_SERVERS=kafka:9092", "-e", f"LAPOR_KAFKA_USER={self.user}",
                  "-e", f"LAPOR_KAFKA_PASSWORD_FILE=/client/{self.user}.secret",
                  "-e", "LAPOR_KAFKA_CA_FILE=/client/ca.pem", IMAGE, "lapor", *args, check=check)

    def records(self, topic: str) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lapor("tail", topic).stdout.splitlines()
                if line.startswith("{")]

    def send(self, topic: str, key: str, value: Any) -> None:
        line = json.dumps({"topic": topic, "key": key, "value": value})
        (self.dir / "send.jsonl").write_text(line + "\n")
        os.chown(self.dir / "send.jsonl", 10001, 10001)
        self.lapor("replay", "/client/send.jsonl")


@pytest.fixture(scope="module")
def parties(stack: dict[str, float]) -> Iterator[dict[str, Party]]:
    with tempfile.TemporaryDirectory() as home:
        yield {u: Party(u, Path(home)) for u in ("channel-web", "channel-sms", "agency-pln",
                                                 "agency-bpjs-kesehatan", "national-admin")}


def test_each_container_holds_only_its_own_secret_as_a_non_root_user(stack: dict[str, float]) -> None:
    allowed = {"access-files": {"access", "broker", "operator"},
               "kafka-storage": {"broker", "operator", "kafka-data"},
               "kafka": {"broker", "kafka-data"},
               "provision": {"access", *(f"{s.replace('_', '-')}-access" for s in SERVICES)},
               "prometheus": {"prometheus-data"},
               # sign-in: the provider's admin secret and accounts; the client secret and the
               # session key, for the two sites that sign staff in
               "signin-files": {"provider"}, "keycloak": {"provider", "keycloak-data"},
               "signin-setup": {"provider", "desk-signin", "ops-signin"},
               # the agencies' bridge file and secrets: made here, read by the bridge alone
               "bridge-files": {"bridge-agencies"},
               # the tracking-id key: made once here, read by intake alone
               "complaint-id-key": {"complaint-id-key"},
               # the proxy: its configuration and TLS files; the CA that issued its first
               # certificate only in the step that made it
               "proxy-files": {"proxy", "proxy-tls", "proxy-ca"}, "proxy": {"proxy", "proxy-tls"},
               "proxy-metrics": set()}  # its exporter: nginx's counts over the network, no file
    for service, user in SERVICES.items():
        own = f"{service.replace('_', '-')}-access"
        data = {"intake": "intake-data", "router": "router-data", "sla_monitor": "sla-data",
                "ops_view": "ops-data"}.get(service)
        allowed[service] = {own, *([data] if data else [])}
    allowed["ops_view"].add("ops-signin")  # each site its own session key
    allowed["desk"].add("desk-signin")
    allowed["bridge"].add("bridge-agencies")
    allowed["intake"].add("complaint-id-key")
    running = sh("podman", "ps", "-a", "--filter", f"label=io.podman.compose.project={PROJECT}",
                 "--format", "{{.Names}}").stdout.split()
    assert sorted(running) == sorted(container(s) for s in allowed)  # each container checked
    for service, volumes in allowed.items():
        mounts = json.loads(sh("podman", "inspect", container(service), "--format",
                               "{{json .Mounts}}").stdout)
        named = {m["Name"].removeprefix(f"{PROJECT}_") for m in mounts if m.get("Type") == "volume"}
        assert named == volumes, service
        if service in SERVICES:  # its secret, and the bridge its agencies' secrets: read-only
            writable = [m["Name"] for m in mounts if m.get("RW") and m["Name"].endswith(
                ("-access", "bridge-agencies", "complaint-id-key"))]
            assert writable == [], service
        if service == "proxy":  # its certificate and key: read-only
            assert [m["RW"] for m in mounts if m["Name"].endswith("proxy-tls")] == [False]
        binds = [(m["Source"], m["Destination"], m["RW"]) for m in mounts if m.get("Type") == "bind"]
        # no host path but the deployment's configuration, read-only
        assert binds == ([(str(CONFIG), "/etc/lapor", False)] if service in READS_CONFIG else []), service
        config = json.loads(sh("podman", "inspect", container(service), "--format",
                               "{{json .HostConfig}}").stdout)
        assert config["ReadonlyRootfs"] is True, service
        assert sh("podman", "inspect", container(service), "--format", "{{.Config.User}}"
                  ).stdout.strip() == "10001:10001", service
    for service, user in SERVICES.items():  # running: what it sees, as whom
        name = container(service)
        assert sh("podman", "exec", name, "id", "-u").stdout.strip() == "10001"
        assert sorted(sh("podman", "exec", name, "ls", "-A", "/access").stdout.split()) == \
            ["ca.pem", f"{user}.secret"]
        assert sh("podman", "exec", name, "touch", "/opt/lapor/x", check=False).returncode != 0
        assert sh("podman", "exec", name, "ls", "/bridge", check=False).stdout.strip() == (
            "bridge.yaml\nsecrets" if service == "bridge" else ""), service  # an empty mount point
    assert sh("podman", "exec", container("bridge"), "touch", "/bridge/secrets/x",
              check=False).returncode != 0  # the bridge cannot change its agencies' secrets
    # nginx, master and worker, as uid 10001 (never root), unable to change its certificate
    for pid in sh("podman", "exec", container("proxy"), "sh", "-c", "ls /proc | grep -E '^[0-9]+$'"
                  ).stdout.split():
        status = sh("podman", "exec", container("proxy"), "cat", f"/proc/{pid}/status", check=False).stdout
        uids = [line.split()[1:] for line in status.splitlines() if line.startswith("Uid:")]
        assert uids in ([], [["10001"] * 4]), (pid, uids)
    assert sh("podman", "exec", container("proxy"), "touch", "/tls/x", check=False).returncode != 0
    # Nor does any service of the compose file mount them, those not started included (the
    # `cli` tools, Grafana): only the step that makes them and the bridge.
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    mounting = {name for name, svc in compose["services"].items()
                for volume in svc.get("volumes", []) if volume.split(":")[0] == "bridge-agencies"}
    assert mounting == {"bridge", "bridge-files"}
    assert {name for name, svc in compose["services"].items() for volume in svc.get("volumes", [])
            if volume.split(":")[0] == "complaint-id-key"} == {"intake", "complaint-id-key"}
    # Every file holding a secret, a key or a password is its owner's only (uid 10001).
    ca = volume_dir("access") / "ca"
    assert stat.S_IMODE(ca.stat().st_mode) == 0o700  # the CA's workshop (certificates too)
    private = [volume_dir("access") / "secrets", volume_dir("broker"), volume_dir("operator"),
               volume_dir("proxy-ca"),  # the proxy's CA: its key (ca.pem is public)
               *(volume_dir(f"{s.replace('_', '-')}-access") for s in SERVICES),
               volume_dir("desk-signin"), volume_dir("ops-signin"), volume_dir("provider"), volume_dir("bridge-agencies"),
               volume_dir("complaint-id-key"),
               volume_dir("bridge-agencies") / "secrets"]
    checked = 0
    assert stat.S_IMODE(volume_dir("proxy-ca").stat().st_mode) == 0o700
    for path in [ca / "ca.key", ca / "broker.key", volume_dir("access") / "broker.p12",
                 volume_dir("proxy-tls") / "proxy.key",
                 volume_dir("access") / "broker.p12.password",
                 *(p for folder in private for p in folder.iterdir())]:
        if path.name != "ca.pem":  # the CA certificate is public: clients need it
            assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path
            assert path.stat().st_uid == 10001, path
            checked += 1
    assert checked > len(SERVICES) + 500  # the services' and every agency's secret, the keys
    assert (volume_dir("access") / "ca" / "ca.key").exists()  # the CA key: in `access` only
    # Each site signs its sessions with its own key: the desk's cannot forge the operations
    # page's (both volumes hold the client secret and a session key, the keys differ).
    keys = [volume_dir(f"{site}-signin") / "staff-session.key" for site in ("desk", "ops")]
    assert all(k.read_text().strip() for k in keys) and keys[0].read_text() != keys[1].read_text()


def test_the_tls_proxy_is_the_only_published_port_and_every_site_answers_through_it(
        stack: dict[str, float]) -> None:
    label = f"label=io.podman.compose.project={PROJECT}"
    published = {}
    for name in sh("podman", "ps", "-a", "--filter", label, "--format", "{{.Names}}").stdout.split():
        ports = json.loads(sh("podman", "inspect", name, "--format",
                              "{{json .NetworkSettings.Ports}}").stdout) or {}
        bound = [(b["HostIp"], b["HostPort"]) for bindings in ports.values() for b in bindings or []]
        if bound:
            published[name] = bound
    assert published == {container("proxy"): [("127.0.0.1", str(HTTPS_PORT))]}
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())  # not started ones too
    assert [name for name, svc in compose["services"].items() if svc.get("ports")] == ["proxy"]

    def ops_page() -> tuple[int, dict[str, str], bytes] | None:
        try:  # the worker opens its page once it has joined its group; 502 until then
            got = https("ops", "/")
        except OSError:
            return None
        return got if got[0] != 502 else None

    status, headers, _ = until("the operations page through the proxy", ops_page)
    assert status == 302 and headers["Location"].startswith("/auth/login")  # a stranger: sign in
    assert headers["Strict-Transport-Security"] == "max-age=31536000"
    def desk_page() -> tuple[int, dict[str, str], bytes] | None:
        got = https("desk", "/")
        return got if got[0] != 502 else None

    desk = until("the desk through the proxy", desk_page)
    assert desk[0] == 200 and b"/auth/login" in desk[2]
    # The provider: its realm at the public issuer; its admin console not published.
    status, _, body = https("signin", "/realms/lapor/.well-known/openid-configuration")
    assert status == 200
    assert json.loads(body)["issuer"] == f"https://{NAMES['signin']}:{HTTPS_PORT}/realms/lapor"
    assert https("signin", "/admin/master/console/")[:3:2] == (404, b"not here\n")
    # The bridge's door: a status without a signature is the bridge's refusal, not the proxy's.
    status, _, body = https("bridge", "/agencies/pln/statuses", "POST", b"{}",
                            {"content-type": "application/json"})
    assert status in (400, 401) and "error" in json.loads(body), body
    assert https("bridge", "/metrics/")[0] == 404  # only the door
    # A name the proxy does not serve: no TLS handshake.
    context = ssl.create_default_context(cafile=str(volume_dir("proxy-tls") / "ca.pem"))
    with pytest.raises(ssl.SSLError):
        with socket.create_connection(("127.0.0.1", HTTPS_PORT), timeout=10) as raw:
            context.wrap_socket(raw, server_hostname="kafka.localhost")


def test_lacak_through_the_proxy_believes_no_x_forwarded_for_a_client_writes(
        stack: dict[str, float]) -> None:
    """Lacak keeps a budget per client address (30 lookups a minute): one client writing a
    fresh X-Forwarded-For on every request is still one client, the one the proxy saw."""
    def lookup(forged: str) -> int:
        return https("lacak", "/api/lacak/LPR-NOSUCHID1", headers={"X-Forwarded-For": forged})[0]

    def ready() -> int | None:
        got = lookup("198.51.100.1")
        return got if got != 502 else None

    first = until("lacak through the proxy", ready)
    assert first in (400, 404)
    started = time.monotonic()
    answers = [lookup(f"198.51.100.{i}") for i in range(2, 40)]
    refilled = (time.monotonic() - started) * 30 / 60  # the budget refills half a lookup a second
    assert 429 in answers, answers  # its own budget spent, whatever it claimed to be
    # No fresh budget for a forged address: the 30 of the minute and what refilled meanwhile
    # (a loaded machine is slow to ask), never another 30.
    assert answers.index(429) <= 30 + refilled, (answers.index(429), refilled)


async def test_staff_sign_in_with_the_compose_provider(stack: dict[str, float]) -> None:
    """The accounts signin-setup made; a national operator on the operations page, PLN's
    staff at the desk, through Keycloak's own form, all over https through the proxy by
    their public names, in Chromium (trusting exactly the proxy's certificate key)."""
    from playwright.async_api import async_playwright

    from services.tools.web_proxy import spki_sha256
    from tests.staff_browser import CHROMIUM, sign_in, watch_console

    lines = sh("bash", "scripts/stack", "accounts").stdout.split("\n")
    accounts = {user: password for user, password, _ in (line.split() for line in lines if line.strip())}
    assert set(accounts) == {"operator", "pln", "bpjs", "nobody", "bandung", "pupr"}
    errors: list[str] = []
    async with async_playwright() as pw:
        spki = spki_sha256(volume_dir("proxy-tls") / "proxy.pem")
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", f"--ignore-certificate-errors-spki-list={spki}"])
        ops, desk = (f"https://{NAMES[site]}:{HTTPS_PORT}" for site in ("ops", "desk"))
        operator = await sign_in(await browser.new_context(), f"{ops}/", "operator", accounts["operator"])
        watch_console(operator, (ops,), errors)
        await operator.reload()
        await operator.wait_for_selector("#signout:not([hidden])")
        assert await operator.text_content("#who") == "operator"
        pln = await sign_in(await browser.new_context(), f"{desk}/", "pln", accounts["pln"])
        watch_console(pln, (desk,), errors)
        assert pln.url == f"{desk}/a/pln/"
        assert "PT PLN" in await pln.inner_text("h1")
        # (in the browser: Playwright's own requests do not resolve *.localhost as Chromium does)
        other = await pln.context.new_page()
        refused = await other.goto(f"{desk}/api/a/bpjs-kesehatan/queue")
        assert refused is not None and refused.status == 404
        await browser.close()
    assert errors == []


def test_worker_web_ports_serve_metrics_and_health_but_no_tables(stack: dict[str, float]) -> None:
    probe = ("import sys, urllib.request, urllib.error\n"
             "def status(url):\n"
             "    try:\n"
             "        return urllib.request.urlopen(url, timeout=10).status\n"
             "    except urllib.error.HTTPError as e:\n"
             "        return e.code\n"
             "for host in sys.argv[1:]:\n"
             "    for path in ('/health/', '/metrics/', '/table/', '/table/holdings/', '/router/'):\n"
             "        print(host, path, status(f'http://{host}:6066{path}'))\n")
    def answers() -> dict[tuple[str, str], int] | None:  # once every worker's port is open
        done = sh("podman", "exec", container("ops_view"), "python3", "-c", probe, *WORKERS,
                  check=False)
        lines = done.stdout.split("\n") if done.returncode == 0 else []
        got = {(h, p): int(s) for h, p, s in (line.split() for line in lines if line)}
        # A stateless worker's /health/ says 503 "starting" until it polls (the disposition
        # stage reads agency.units.v1 to its end first).
        return got if got and all(got.get((h, "/health/")) != 503 for h in WORKERS) else None

    got = until("every worker's web port answering", answers)
    for host in WORKERS:
        assert got[(host, "/health/")] == 200 and got[(host, "/metrics/")] == 200, host
        for path in ("/table/", "/table/holdings/", "/router/"):
            assert got[(host, path)] == 404, (host, path)


@pytest.fixture(scope="module")
def traffic(parties: dict[str, Party]) -> dict[str, Any]:
    """A web complaint, an anonymous SMS and a malformed submission, each from its channel's
    principal; once PLN has both complaints (read as agency-pln), a tick a month ahead."""
    web, sms, pln, admin = (parties[u] for u in ("channel-web", "channel-sms", "agency-pln",
                                                 "national-admin"))
    now = datetime.now(UTC).astimezone()
    web.lapor("submit", "--body", "Listrik padam sejak kemarin di rumah saya",
              "--set", "submission_id=stack-web-1", "--set", "channel=web", "--set", "agency_hint=pln")
    sms.send("channels.sms.v1", "stack-sms-1", {
        "message_id": "stack-sms-1", "msisdn": SMS_NUMBER, "received_at": now.isoformat(),
        "text": "ANONIM Listrik padam tiga hari di desa kami, tolong PLN"})
    web.send("complaints.submitted.v1", "stack-bad-1", [1])  # a dead letter, for the dashboard

    def at_pln() -> list[dict[str, Any]] | None:
        got = [r["value"] for r in pln.records("agency.pln.complaints.v1")]
        return got if {v["submission_id"] for v in got} >= {"stack-web-1", "stack-sms-1"} else None

    delivered = until("both complaints on PLN's topic, read as agency-pln", at_pln)
    admin.lapor("tick", (now + timedelta(days=40)).isoformat())
    return {"delivered": delivered,
            "ids": {v["submission_id"]: v["complaint_id"] for v in delivered}}


def test_complaints_flow_from_the_channels_to_the_agency_escalations_and_replies(
        parties: dict[str, Party], traffic: dict[str, Any]) -> None:
    web, sms, admin = (parties[u] for u in ("channel-web", "channel-sms", "national-admin"))
    delivered, ids = traffic["delivered"], traffic["ids"]
    assert {v["agency_id"] for v in delivered} == {"pln"}
    assert SMS_NUMBER not in json.dumps(delivered) and "81398765432" not in json.dumps(delivered)
    # Another agency may not read PLN's topic.
    refused = parties["agency-bpjs-kesehatan"].lapor("tail", "agency.pln.complaints.v1", check=False)
    assert refused.returncode == 2 and "not authorised" in refused.stderr

    def escalated() -> set[str] | None:
        got = {r["value"]["complaint_id"] for r in admin.records("sla.escalations.v1")}
        return got if {ids["stack-web-1"], ids["stack-sms-1"]} <= got else None

    until("escalations of both complaints after the tick", escalated)

    def replied(party: Party, submission: str) -> dict[str, Any] | None:
        channel = party.user.removeprefix("channel-")  # each reads its own replies only
        return next((r["value"] for r in party.records(f"complaints.notifications.{channel}.v1")
                     if r["value"].get("submission_id") == submission
                     and r["value"]["kind"] == "accepted"), None)

    sms_reply = until("the SMS gateway's reply", lambda: replied(sms, "stack-sms-1"))
    assert sms_reply["channel"] == "sms" and ids["stack-sms-1"] in sms_reply["text"]
    web_reply = until("the web portal's reply", lambda: replied(web, "stack-web-1"))
    assert web_reply["channel"] == "web" and ids["stack-web-1"] in web_reply["text"]


def prometheus(path: str) -> Any:
    """Prometheus is not published: asked from a container on the compose network."""
    fetch = ("import sys, urllib.request\n"
             "sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())\n")
    done = sh("podman", "exec", container("ops_view"), "python3", "-c", fetch,
              f"http://prometheus:9090{path}")
    return json.loads(done.stdout)["data"]


def scraped(query: str) -> float | None:
    """A one-series PromQL query's value now; None when it has no series."""
    got = prometheus("/api/v1/query?query=" + urllib.parse.quote(query))["result"]
    return float(got[0]["value"][1]) if got else None


def test_an_agency_posts_a_signed_status_to_the_bridges_published_port(
        parties: dict[str, Party], traffic: dict[str, Any]) -> None:
    """The operator reads PLN's secret out of the running bridge (the starter's, made by
    `bridge-files`) to hand it over; PLN signs a status with the Standard Webhooks library and
    posts it to the bridge's door through the TLS proxy (https://agencies.localhost:8443);
    the router judges it.
    A status signed with another secret is refused, and no container's log holds the secret."""
    secret = sh("bash", "scripts/stack", "bridge-secret", "pln").stdout.strip()
    assert secret.startswith("whsec_") and len(secret) > 40
    complaint_id = traffic["ids"]["stack-web-1"]

    def post(status: dict[str, Any], key: str) -> tuple[int, dict[str, Any]]:
        body, msg_id, now = json.dumps(status), f"msg_stack_{time.time_ns()}", datetime.now(UTC)
        headers = {"content-type": "application/json", "webhook-id": msg_id,
                   "webhook-timestamp": str(int(now.timestamp())),
                   "webhook-signature": Webhook(key).sign(msg_id, now, body)}
        code, _, answer = https("bridge", "/agencies/pln/statuses", "POST", body.encode(), headers)
        return code, json.loads(answer)

    ack = {"event_id": "stack-pln-ack-1", "complaint_id": complaint_id, "status": "acknowledged",
           "at": datetime.now(UTC).isoformat()}
    forged = "whsec_" + base64.b64encode(b"a guess of thirty-two bytes long").decode()
    assert post({**ack, "event_id": "stack-forged-1"}, forged) == (401, {"error": "bad_signature"})
    assert post(ack, secret) == (202, {"accepted": "stack-pln-ack-1"})

    def judged() -> dict[str, Any] | None:
        return next((r["value"] for r in parties["national-admin"].records("complaints.status.v1")
                     if r["value"]["complaint_id"] == complaint_id
                     and r["value"]["status"] == "acknowledged"), None)

    passed = until("PLN's acknowledgement judged by the router", judged)
    assert passed["agency_id"] == "pln"
    until("the status counted on the bridge's metrics, scraped", lambda: (
        scraped('lapor_bridge_statuses_in_total{agency="pln",source="webhook"}') or 0) >= 1)
    assert scraped('lapor_bridge_refused_in_total{agency="pln",reason="bad_signature"}') == 1
    label = f"label=io.podman.compose.project={PROJECT}"
    for name in sh("podman", "ps", "-a", "--filter", label, "--format", "{{.Names}}").stdout.split():
        logs = sh("podman", "logs", name, timeout=60)
        assert secret.removeprefix("whsec_") not in logs.stdout + logs.stderr, name


def test_prometheus_scrapes_every_worker_and_every_dashboard_query_has_a_series(
        traffic: dict[str, Any]) -> None:
    """After the traffic (which makes dead letters and escalations, so that their panels
    have something to show)."""
    targets = until("every worker, Keycloak and the proxy scraped", lambda: (
        t if len(t := prometheus("/api/v1/targets")["activeTargets"]) == len(WORKERS) + 2
        and all(x["health"] == "up" for x in t) else None), timeout_s=120)
    assert {x["labels"]["instance"] for x in targets} == {
        *(f"{w}:6066" for w in WORKERS), "keycloak:9000", "proxy-metrics:9113"}
    # Keycloak's own figures (its JVM and HTTP server); the proxy's, with the requests of the
    # tests before (the browser's, the bridge's statuses) counted
    assert (scraped('count({job="keycloak"})') or 0) > 10
    assert scraped("nginx_up") == 1
    assert (scraped("nginx_http_requests_total") or 0) > 10
    # The desk read PLN's complaints. The bridge tries them at the starter's placeholder
    # address (under .invalid: it never resolves), so it delivers nothing, refuses nothing,
    # and both wait, while no part of it is stuck.
    until("the desk's and the bridge's figures scraped", lambda: (
        (scraped('sum(lapor_desk_records_total{topic="agency.{agency_id}.complaints.v1"})') or 0) >= 2
        and (scraped('lapor_bridge_pending{agency="pln"}') or 0) >= 2
        and (scraped('lapor_bridge_failed_tries_total{agency="pln"}') or 0) >= 1), timeout_s=120)
    for nothing in ("sum(lapor_bridge_delivered_total)", "sum(lapor_bridge_refused_total)",
                    "sum(lapor_bridge_gave_up_total)", "sum(lapor_bridge_skipped_total)",
                    "sum(lapor_bridge_failing)"):
        assert scraped(nothing) in (None, 0.0), nothing  # None: no series, never counted
    dashboard = json.loads((ROOT / "ops/grafana/dashboards/lapor.json").read_text())
    queries = [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]
    assert len(queries) == 7

    def every_query_answers() -> bool:
        return all(prometheus("/api/v1/query?query=" + urllib.parse.quote(q))["result"]
                   for q in queries)

    until("a series for each dashboard query", every_query_answers, timeout_s=180)
    escalations = prometheus("/api/v1/query?query=" + urllib.parse.quote(
        "sum(lapor_escalations_total)"))["result"]
    assert float(escalations[0]["value"][1]) >= 2


def test_a_deployments_own_agency_and_the_bridge_commands_on_the_stack(
        tmp_path: Path, traffic: dict[str, Any]) -> None:
    """After the Prometheus test (a skip is counted). The agency of LAPOR_STACK_CONFIG's file:
    provisioned (again: `provision` did at `up`, and kept it), it logs in and may read its
    topic. `lapor bridge skip` runs in the operator's `cli` (the registry and lapor-admin's
    write to bridge.control.v1), and the bridge worker skips PLN's complaint; `check` and
    `redeliver` need the bridge file and its secrets: they run in the bridge's container, as
    svc-bridge."""
    cli = ("bash", "scripts/stack", "run", "--rm", "cli", "lapor")
    sh(*cli, "access", "provision", "--agency", OWN_AGENCY, timeout=300)
    check = sh(*cli, "access", "check", f"agency-{OWN_AGENCY}").stdout
    assert f"User:agency-{OWN_AGENCY}: has a SCRAM credential" in check
    grants = {" ".join(line.split()) for line in check.splitlines() if "may" in line}
    assert {f"may READ topic agency.{OWN_AGENCY}.complaints.v1",
            f"may WRITE topic agency-status.{OWN_AGENCY}.v1"} <= grants, check
    assert Party(f"agency-{OWN_AGENCY}", tmp_path).lapor(
        "tail", f"agency.{OWN_AGENCY}.complaints.v1").returncode == 0  # it logs in
    for complaint in traffic["ids"].values():  # both wait in PLN's lane (its endpoint: .invalid)
        skipped = sh(*cli, "bridge", "skip", "pln", complaint, "--note", "stack test").stdout
        assert f"complaint {complaint} will be skipped" in skipped
    until("the bridge worker skipping both, scraped", lambda: (
        scraped('lapor_bridge_skipped_total{agency="pln"}') or 0) >= 2)
    in_bridge = ("bash", "scripts/stack", "exec", "-T", "bridge", "lapor", "bridge")
    checked = sh(*in_bridge, "check", "pln", check=False)
    assert checked.returncode == 1, checked  # ran with the file: the starter's endpoint
    assert "pln: webhook https://endpoint-not-set.pln.invalid/lapor/complaints answered" in checked.stdout
    since = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    again = sh(*in_bridge, "redeliver", "pln", "--since", since, check=False, timeout=300)
    # As svc-bridge: PLN's topic and the bridge's memory read (the skips hold), both
    # complaints dead-lettered and marked again (written).
    counts = re.search(r"pln: (\d+) records since \S+, (\d+) delivered or dead-lettered, "
                       r"0 still failing", again.stdout)
    assert again.returncode == 0 and counts is not None, again
    assert int(counts[1]) == int(counts[2]) >= 2, again.stdout


def test_a_graceful_stop_logs_no_crash_and_down_leaves_nothing(stack: dict[str, float]) -> None:
    stats = json.loads(sh("podman", "stats", "--no-stream", "--format", "json").stdout)
    memory = {s["name"].removeprefix(f"{PROJECT}_").removesuffix("_1"): s["mem_usage"].split("/")[0].strip()
              for s in stats if s["name"].startswith(PROJECT)}
    print(f"\nstack memory per container: {memory}")
    for service in WORKERS:
        sh("podman", "stop", "-t", "30", container(service))
        state = json.loads(sh("podman", "inspect", container(service), "--format",
                              "{{json .State}}").stdout)
        log = sh("podman", "logs", container(service)).stdout + sh(
            "podman", "logs", container(service)).stderr
        assert "worker_ready" in log or "Worker ready" in log, service  # it ran
        assert "Crashed" not in log and "Traceback" not in log, (service, log[-3000:])
        assert state["ExitCode"] == 0, service
    # The proxy (SIGQUIT: open requests end first), then the provider it fronts.
    sh("podman", "stop", "-t", "30", container("proxy"))
    state = json.loads(sh("podman", "inspect", container("proxy"), "--format", "{{json .State}}").stdout)
    errors = (volume_dir("proxy") / "logs" / "error.log").read_text()  # warnings and worse
    assert state["ExitCode"] == 0, (state, errors[-3000:])
    assert not [line for line in errors.splitlines() if any(
        f"[{level}]" in line for level in ("emerg", "alert", "crit"))], errors[-3000:]
    assert sh("podman", "logs", container("proxy")).stderr == ""  # all of it in its own log
    sh("podman", "stop", "-t", "60", container("keycloak"))
    state = json.loads(sh("podman", "inspect", container("keycloak"), "--format", "{{json .State}}").stdout)
    log = sh("podman", "logs", container("keycloak")).stdout + sh("podman", "logs", container("keycloak")).stderr
    assert "started in" in log and "stopped in" in log, log[-3000:]  # Quarkus: a clean stop
    assert " ERROR " not in log and "Exception" not in log, log[-3000:]
    assert state["ExitCode"] in (0, 143), state  # the JVM after its shutdown hooks ran: SIGTERM's
    sh("bash", "scripts/stack", "down", timeout=300)
    assert left_behind() == []
