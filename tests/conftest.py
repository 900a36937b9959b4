"""Test session wiring: the real Kafka broker for integration and e2e tests.

The session starts the embedded broker itself (or uses LAPOR_TEST_BOOTSTRAP when a cluster
is given). If it cannot, every test that needs it *fails* with the reason: a missing broker
never turns into a skip.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.tools import broker
from services.tools import signin_provider as signin_provider_tool
from services.tools.signin_provider import RunningProvider
from services.runtime.settings import Settings
from services.tools.broker_security import admin_settings
from tests.ids import key_file

# Every Settings of the session (and every worker it starts) keys complaint ids with the tests'
# key, so tests/ids.make_complaint_id gives the ids intake gives.
os.environ["LAPOR_COMPLAINT_ID_KEY_FILE"] = str(key_file())


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """The session's broker, as its operator (`lapor-admin`, a super user) sees it: with
    SASL/SCRAM over TLS and deny-by-default ACLs, as every deployment runs. Each test's
    services then run as their own principals (tests/workers.py)."""
    given = os.environ.get("LAPOR_TEST_BOOTSTRAP")
    if given:  # a given cluster: its admin credentials come from the LAPOR_KAFKA_* settings
        yield Settings(bootstrap_servers=given)
        return
    shared = os.environ.get("LAPOR_TEST_SHARED_BROKER")
    if shared:  # scripts/test started one embedded broker for all the test processes
        settings = Settings(broker_dir=Path(shared), access_dir=Path(shared) / "access",
                            partitions=2, kafka_security="SASL_SSL")
        port = broker.running_port(settings)
        if port is None:
            pytest.fail(f"LAPOR_TEST_SHARED_BROKER={shared}: no broker runs there", pytrace=False)
        yield admin_settings(settings.model_copy(update={"bootstrap_servers": f"127.0.0.1:{port}"}))
        return
    # Under scripts/test the state lives below LAPOR_TEST_STATE, so its cleanup trap can
    # find (and end) the broker even if pytest itself is killed.
    base = os.environ.get("LAPOR_TEST_STATE")
    state: Path = Path(base) / f"broker-{os.getpid()}" if base else tmp_path_factory.mktemp("broker")
    shutil.rmtree(state, ignore_errors=True)
    settings = Settings(broker_dir=state, access_dir=state / "access", partitions=2,
                        kafka_security="SASL_SSL")
    try:
        bootstrap = broker.start(settings, port=broker.free_port(), timeout_s=120)
    except Exception as exc:  # fail loudly: the tests that need Kafka must not pass or skip
        pytest.fail(f"the embedded Kafka broker could not be started: {exc}", pytrace=False)
    try:
        yield admin_settings(settings.model_copy(update={"bootstrap_servers": bootstrap}))
    finally:
        broker.stop(settings)


@pytest.fixture(scope="session")
def broker_settings(kafka_broker: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings for tests on the real broker: 2 partitions, memory stores, no web view, as
    the operator (super user)."""
    return kafka_broker.model_copy(update=dict(
        partitions=2,
        store="memory://",
        web_enabled=False,
        session_timeout_s=10.0,
        data_dir=tmp_path_factory.mktemp("faust-data"),
    ))


@pytest.fixture(params=["memory", pytest.param("broker", marks=pytest.mark.broker)])
def runtime(request: pytest.FixtureRequest) -> str:
    """Which runtime a harness test body runs on (tests/harness.py): each body runs on both."""
    if request.param == "broker":
        # Start the session's broker here, outside the test's event loop (its start-up runs
        # one of its own), not lazily from inside the async test body.
        request.getfixturevalue("broker_settings")
    return str(request.param)


# Time per tier (unit, integration, e2e, faults, stack), summed over the test processes: the
# figures the README quotes. Under pytest-xdist the controller receives every report.
TIER_SECONDS: dict[str, float] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _timeline(report)
    parts = Path(report.nodeid.split("::")[0]).parts
    if len(parts) > 2 and parts[0] == "tests":
        TIER_SECONDS[parts[1]] = TIER_SECONDS.get(parts[1], 0.0) + report.duration


def _timeline(report: pytest.TestReport) -> None:
    """When each test phase ended, in which test process (LAPOR_TEST_STATE/timeline.txt):
    where the suite's wall time goes, for balancing the processes."""
    state, worker = os.environ.get("LAPOR_TEST_STATE"), os.environ.get("PYTEST_XDIST_WORKER")
    if state and worker:
        with open(Path(state) / "timeline.txt", "a") as out:
            out.write(f"{time.time():.1f} {worker} {report.when} {report.duration:.1f} {report.nodeid}\n")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if TIER_SECONDS:
        terminalreporter.write_line("time per tier, summed over processes: " + ", ".join(
            f"{tier} {seconds:.0f} s" for tier, seconds in sorted(TIER_SECONDS.items())))


@pytest.fixture(scope="session")
def signin_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningProvider]:
    """The session's OpenID Connect provider: Keycloak with the `lapor` realm and its demo
    accounts (services/tools/signin_provider.py). scripts/test starts one for every test
    process; a test run without it starts its own. If it cannot, the tests that need it fail."""
    shared = os.environ.get("LAPOR_TEST_SHARED_PROVIDER")
    if shared:  # started in the background by scripts/test: wait for it
        # The start gives up by itself (Keycloak not answering, or its admin API failing) and
        # says why; the deadline here only guards against a start that never ran.
        settings = Settings(broker_dir=Path(shared))
        deadline = time.monotonic() + 600
        while (found := signin_provider_tool.running_provider(settings)) is None:
            if (error := signin_provider_tool.start_error(settings)) is not None:
                pytest.fail(f"the shared sign-in provider did not start: {error}", pytrace=False)
            if time.monotonic() > deadline:
                pytest.fail(f"LAPOR_TEST_SHARED_PROVIDER={shared}: no provider runs there", pytrace=False)
            time.sleep(1)
        yield found
        return
    settings = Settings(broker_dir=tmp_path_factory.mktemp("provider"))
    try:
        provider = signin_provider_tool.start(settings, signin_provider_tool.LOOPBACK_REDIRECTS)
    except Exception as exc:
        pytest.fail(f"the sign-in provider could not be started: {exc}", pytrace=False)
    try:
        yield provider
    finally:
        signin_provider_tool.stop(settings)
