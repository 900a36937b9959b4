"""`lapor bridge-files`, the compose step that makes the bridge's files: a starter file, a
fresh Standard Webhooks secret for each webhook agency that has none (never replacing one:
its agency has it), and an installed file only once the bridge's own loader accepts it.
Checked with the bridge's loader, as the bridge would read what the step leaves; and no
secret is ever in the step's output (its log)."""

from __future__ import annotations

import base64
import hashlib
import json
import stat
from pathlib import Path

import pytest

from services.bridge.config import load_config
from services.domain.registry import load_registry
from services.runtime.settings import Settings
from services.tools.bridge_files import (
    BridgeFilesError, bridge_check, new_webhook_secret, prepare, starter_text,
)
from services.tools.cli import main

KNOWN = load_registry(None).ids()
CHECK = bridge_check(Settings())


def webhook(endpoint: str, secret: str) -> dict[str, str]:
    return {"mode": "webhook", "endpoint": endpoint, "secret_file": secret}


def bridge_file(**agencies: object) -> str:
    return json.dumps({"agencies": agencies})  # JSON is YAML: the bridge reads either


def secret_of(path: Path) -> str:
    return path.read_text().strip()


def test_a_fresh_folder_gets_the_starter_and_a_secret_the_bridge_accepts(tmp_path: Path) -> None:
    file = tmp_path / "bridge" / "bridge.yaml"
    [pln] = prepare(file, KNOWN, CHECK)
    assert file.read_text() == starter_text()
    secret = file.parent / "secrets" / "pln.whsec"
    assert (pln.agency_id, pln.mode, pln.secret, pln.made) == ("pln", "webhook", Path("secrets/pln.whsec"), True)
    for path in (file, secret):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE(secret.parent.stat().st_mode) == 0o700
    text = secret_of(secret)
    assert text.startswith("whsec_") and len(base64.b64decode(text[6:], validate=True)) == 32
    assert pln.fingerprint == hashlib.sha256(text.encode()).hexdigest()[:16]
    config = load_config(file, KNOWN)  # what the bridge reads at start
    assert config.keys["pln"] == (base64.b64decode(text[6:]),)
    assert not list(file.parent.glob(".*"))  # no candidate file left behind


def test_a_second_run_keeps_the_file_and_every_secret(tmp_path: Path) -> None:
    file = tmp_path / "bridge.yaml"
    prepare(file, KNOWN, CHECK)
    secret = tmp_path / "secrets" / "pln.whsec"
    before = secret_of(secret)
    file.write_text(file.read_text().replace("endpoint-not-set.pln.invalid", "crm.pln.example"))
    [pln] = prepare(file, KNOWN, CHECK)
    assert not pln.made and secret_of(secret) == before  # the agency has it: never replaced
    assert "crm.pln.example" in file.read_text()  # the operator's file is not overwritten


def test_an_installed_file_gets_secrets_for_its_new_webhook_agencies_only(tmp_path: Path) -> None:
    file = tmp_path / "bridge.yaml"
    prepare(file, KNOWN, CHECK)
    pln_secret = secret_of(tmp_path / "secrets" / "pln.whsec")
    (tmp_path / "secrets" / "pemda.key").write_text("pemda-api-key\n")
    (tmp_path / "secrets" / "pemda.key").chmod(0o600)
    text = bridge_file(
        pln=webhook("https://crm.pln.example/lapor", "secrets/pln.whsec"),
        kemensos=webhook("https://lapor.kemensos.example/in", "secrets/kemensos.whsec"),
        **{"pemda-32-73": {"mode": "open311", "endpoint": "https://open311.bandung.example/v2/",
                           "api_key_file": "secrets/pemda.key", "service_codes": {"default": "UMUM"}}})
    files = {f.agency_id: f for f in prepare(file, KNOWN, CHECK, install=text)}
    assert file.read_text() == text
    assert {a: f.made for a, f in files.items()} == {"pln": False, "kemensos": True, "pemda-32-73": False}
    assert secret_of(tmp_path / "secrets" / "pln.whsec") == pln_secret
    assert secret_of(tmp_path / "secrets" / "kemensos.whsec").startswith("whsec_")
    assert secret_of(tmp_path / "secrets" / "pemda.key") == "pemda-api-key"  # the agency's, as given
    assert set(load_config(file, KNOWN).agencies) == {"pln", "kemensos", "pemda-32-73"}


@pytest.mark.parametrize(("agencies", "named"), [
    ({"pln-typo": webhook("https://crm.pln.example/", "secrets/pln-typo.whsec")},
     "agencies.pln-typo: not a registered agency"),
    ({"pln": webhook("http://crm.pln.example/", "secrets/pln.whsec")}, "must be https"),
    ({"pemda-32-73": {"mode": "open311", "endpoint": "https://open311.bandung.example/v2/",
                      "api_key_file": "secrets/pemda.key", "service_codes": {"default": "UMUM"}}},
     "cannot read secret file"),  # an api_key is the agency's to give: never made here
    ({"pln": webhook("https://crm.pln.example/", "../outside.whsec")}, "cannot read secret file"),
    ({}, "no agency configured"),
])
def test_a_file_the_bridge_would_refuse_is_not_installed(tmp_path: Path, agencies: dict[str, object],
                                                         named: str) -> None:
    file = tmp_path / "bridge" / "bridge.yaml"
    prepare(file, KNOWN, CHECK)
    before = file.read_text()
    with pytest.raises(BridgeFilesError) as refused:
        prepare(file, KNOWN, CHECK, install=bridge_file(**agencies))
    assert named in str(refused.value) and "is unchanged" in str(refused.value)
    assert file.read_text() == before  # the running bridge's file stays as it was
    assert not list(file.parent.glob(".*"))
    assert not (tmp_path / "outside.whsec").exists()  # nothing made outside the folder
    assert not (file.parent / "secrets" / "pln-typo.whsec").exists()  # nor for a misspelt agency


def test_a_rotating_secret_is_kept_whole_and_fingerprinted_by_its_new_line(tmp_path: Path) -> None:
    file = tmp_path / "bridge.yaml"
    prepare(file, KNOWN, CHECK)
    secret = tmp_path / "secrets" / "pln.whsec"
    new, old = new_webhook_secret(), secret_of(secret)
    secret.write_text(f"{new}\n{old}\n")
    [pln] = prepare(file, KNOWN, CHECK)
    assert secret.read_text() == f"{new}\n{old}\n"
    assert pln.fingerprint == hashlib.sha256(new.encode()).hexdigest()[:16]


def test_the_command_never_prints_a_secret(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    file = str(tmp_path / "bridge.yaml")
    assert main(["bridge-files", "--file", file]) == 0
    secret = secret_of(tmp_path / "secrets" / "pln.whsec")
    out = capsys.readouterr()
    assert "secrets/pln.whsec" in out.out and "made now" in out.out
    given = tmp_path / "given.yaml"
    given.write_text(bridge_file(pln=webhook("https://crm.pln.example/lapor", "secrets/pln.whsec"),
                                 kemensos=webhook("https://k.example/in", "secrets/kemensos.whsec")))
    assert main(["bridge-files", "--file", file, "--install", str(given)]) == 0
    assert main(["bridge-files", "--file", file, "--install", str(tmp_path / "missing.yaml")]) == 2
    out2 = capsys.readouterr()
    printed = out.out + out.err + out2.out + out2.err
    for made in (secret, secret_of(tmp_path / "secrets" / "kemensos.whsec")):
        assert made not in printed and made.removeprefix("whsec_") not in printed


def test_a_units_own_endpoint_gets_its_own_secret_made_once(tmp_path: Path) -> None:
    # A unit's endpoint (`units:`) is a signed webhook of its own, under an Open311 agency too:
    # the step makes its secret like an agency's, never its agency's, and keeps it after.
    file = tmp_path / "bridge.yaml"
    prepare(file, KNOWN, CHECK)
    (tmp_path / "secrets" / "pemda.key").write_text("pemda-api-key\n")
    (tmp_path / "secrets" / "pemda.key").chmod(0o600)
    text = bridge_file(
        pln={**webhook("https://crm.pln.example/lapor", "secrets/pln.whsec"),
             "units": {"uid-jabar": {"endpoint": "https://crm.uid-jabar.example/in",
                                     "secret_file": "secrets/pln-uid-jabar.whsec"}}},
        **{"pemda-32-73": {"mode": "open311", "endpoint": "https://open311.bandung.example/v2/",
                           "api_key_file": "secrets/pemda.key", "service_codes": {"default": "UMUM"},
                           "units": {"dinas-pupr": {"endpoint": "https://sipupr.bandung.example/lapor",
                                                    "secret_file": "secrets/pemda-32-73-dinas-pupr.whsec"}}}})
    files = {f.agency_id: f.made for f in prepare(file, KNOWN, CHECK, install=text)}
    assert files == {"pln": False, "pln/uid-jabar": True, "pemda-32-73": False,
                     "pemda-32-73/dinas-pupr": True}
    unit = secret_of(tmp_path / "secrets" / "pln-uid-jabar.whsec")
    assert unit.startswith("whsec_") and unit != secret_of(tmp_path / "secrets" / "pln.whsec")
    config = load_config(file, KNOWN)
    assert {t.name for t in config.units.values()} == {"pln/uid-jabar", "pemda-32-73/dinas-pupr"}
    again = {f.agency_id: f.made for f in prepare(file, KNOWN, CHECK)}
    assert again["pln/uid-jabar"] is False and secret_of(tmp_path / "secrets" / "pln-uid-jabar.whsec") == unit
