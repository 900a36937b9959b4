"""The proxy's configuration from the settings (services/tools/web_proxy.py): which sites, at
which names and ports, reached where; what it refuses to write. nginx itself runs in
tests/integration/test_web_proxy.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.runtime.settings import Settings
from services.tools.cli import main
from services.tools.web_proxy import ProxyError, nginx_config, sites_from_settings


def test_sites_come_from_their_public_urls_and_listen_addresses() -> None:
    settings = Settings(desk_public_url="https://desk.lapor.go.id/", ops_public_url="https://ops.lapor.go.id:8443",
                        desk_host="0.0.0.0", desk_port=8074, ops_host="::1", ops_port=8070)
    sites = sites_from_settings(settings, {"ops": "ops_view:8070"})
    assert [(s.name, s.host, s.port, s.netloc, s.upstream) for s in sites] == [
        ("desk", "desk.lapor.go.id", 443, "desk.lapor.go.id", "127.0.0.1:8074"),
        ("ops", "ops.lapor.go.id", 8443, "ops.lapor.go.id:8443", "ops_view:8070")]
    assert sites_from_settings(settings.model_copy(update={"lacak_public_url": "https://lacak.lapor.go.id",
                                                           "lacak_host": "::", "lacak_port": 8073}))[2].upstream \
        == "[::1]:8073"
    conf = nginx_config(sites, Path("/etc/tls/c.pem"), Path("/etc/tls/k.pem"), Path("/srv/proxy"), ("0.0.0.0", "::"))
    assert "listen [::]:8443 ssl default_server;" in conf and "listen 0.0.0.0:443 ssl;" in conf
    assert "user " not in conf  # nothing that needs root
    with pytest.raises(ProxyError, match="one port"):
        nginx_config(sites, Path("c"), Path("k"), Path("p"), listen_port=8443)
    mapped = nginx_config(sites[:1], Path("c"), Path("k"), Path("p"), listen_port=8443)
    assert "listen 0.0.0.0:8443 ssl;" in mapped and "listen 0.0.0.0:8443 ssl default_server;" in mapped
    assert ":443" not in mapped and "X-Forwarded-Host desk.lapor.go.id;" in mapped


@pytest.mark.parametrize("url", ["http://desk.lapor.go.id", "https://desk.lapor.go.id/desk",
                                 "https://u:p@desk.lapor.go.id", "https://desk.lapor.go.id/?x=1",
                                 "https://desk;lapor.go.id", "desk.lapor.go.id"])
def test_a_public_url_that_is_not_a_sites_https_root_is_refused(url: str) -> None:
    with pytest.raises(ProxyError, match="LAPOR_DESK_PUBLIC_URL"):
        sites_from_settings(Settings(desk_public_url=url))


def test_two_sites_at_one_address_or_none_at_all_are_refused() -> None:
    with pytest.raises(ProxyError, match="each site needs its own name or port"):
        sites_from_settings(Settings(desk_public_url="https://lapor.go.id", lacak_public_url="https://lapor.go.id:443"))
    with pytest.raises(ProxyError, match="no site has a public URL"):
        sites_from_settings(Settings())
    with pytest.raises(ProxyError, match="no site named mail"):
        sites_from_settings(Settings(desk_public_url="https://desk.lapor.go.id"), {"mail": "mail:25"})


def test_the_command_writes_the_configuration_or_says_what_is_missing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("services.tools.cli.get_settings",
                        lambda: Settings(lacak_public_url="https://lacak.lapor.go.id"))
    (tmp_path / "c.pem").write_text("cert")
    (tmp_path / "k.pem").write_text("key")
    out = tmp_path / "proxy"
    assert main(["proxy", "config", "--out", str(out)]) == 2
    assert "--cert and --key" in capsys.readouterr().err
    def no_nginx() -> str:
        raise ProxyError("nginx is not installed")

    monkeypatch.setattr("services.tools.web_proxy.nginx_binary", no_nginx)  # compose's step has none
    assert main(["proxy", "config", "--out", str(out), "--cert", str(tmp_path / "c.pem"),
                 "--key", str(tmp_path / "k.pem"), "--upstream", "lacak=ops_view:8073"]) == 0
    conf = (out / "nginx.conf").read_text()
    assert "server_name lacak.lapor.go.id;" in conf and "proxy_pass http://ops_view:8073;" in conf
    assert (out / "logs").is_dir() and (out / "temp").is_dir()


def test_the_bridge_door_and_the_sign_in_provider_are_sites_too() -> None:
    """The bridge's inbound door at LAPOR_BRIDGE_PUBLIC_URL; the provider at its issuer's
    origin, only when its upstream is given (a deployment's own provider: compose's)."""
    settings = Settings(bridge_public_url="https://agencies.lapor.go.id", bridge_host="0.0.0.0",
                        oidc_issuer="https://masuk.lapor.go.id/realms/lapor")
    assert [(s.name, s.public_url, s.upstream) for s in sites_from_settings(settings)] == [
        ("bridge", "https://agencies.lapor.go.id", "127.0.0.1:8072")]
    sites = sites_from_settings(settings, {"signin": "keycloak:8080", "bridge": "bridge:8072"})
    assert [(s.name, s.public_url, s.upstream) for s in sites] == [
        ("bridge", "https://agencies.lapor.go.id", "bridge:8072"),
        ("signin", "https://masuk.lapor.go.id", "keycloak:8080")]
    with pytest.raises(ProxyError, match="LAPOR_OIDC_ISSUER is not set"):
        sites_from_settings(Settings(bridge_public_url="https://agencies.lapor.go.id"), {"signin": "kc:8080"})
    with pytest.raises(ProxyError, match="LAPOR_OIDC_ISSUER"):  # a provider served over http
        sites_from_settings(Settings(oidc_issuer="http://masuk.lapor.go.id/realms/lapor"), {"signin": "kc:8080"})
    conf = nginx_config(sites, Path("c"), Path("k"), Path("p"))
    bridge, signin = conf.split("server_name ")[1:3]
    # Only the provider's browser paths and the bridge's status door; the rest 404 here.
    assert "location /realms/ { proxy_pass http://keycloak:8080; }" in signin
    assert "location /resources/ { proxy_pass http://keycloak:8080; }" in signin
    assert "location /agencies/ { proxy_pass http://bridge:8072; }" in bridge
    for server in (bridge, signin):
        assert 'location / { return 404 "not here\\n"; }' in server
        assert "client_max_body_size 64k;" in server
    assert "proxy_buffer_size 16k;" in signin and "proxy_buffer_size" not in bridge


def test_certs_for_every_sites_name_from_a_ca_of_its_own(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Compose's first certificate: from a CA in the proxy's own folder (the development CA
    is in a volume the proxy never sees), for every published name; made once."""
    from cryptography import x509

    monkeypatch.setattr("services.tools.cli.get_settings", lambda: Settings(
        access_dir=tmp_path / "access", desk_public_url="https://desk.localhost:8443",
        bridge_public_url="https://agencies.localhost:8443",
        oidc_issuer="https://masuk.localhost:8443/realms/lapor"))
    monkeypatch.chdir(tmp_path)  # relative folders, as the demo's (openssl runs elsewhere)
    assert main(["proxy", "certs", "--out", "tls", "--ca-dir", "ca", "--upstream", "signin=keycloak:8080"]) == 0
    cert = x509.load_pem_x509_certificate((tmp_path / "tls" / "proxy.pem").read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sorted(names.get_values_for_type(x509.DNSName)) == [
        "agencies.localhost", "desk.localhost", "masuk.localhost"]
    ca = (tmp_path / "ca" / "ca.pem").read_bytes()
    assert (tmp_path / "tls" / "ca.pem").read_bytes() == ca
    assert cert.issuer == x509.load_pem_x509_certificate(ca).subject
    assert not (tmp_path / "access").exists()  # the development CA was not made nor used
    assert (tmp_path / "ca").stat().st_mode & 0o077 == 0 and (tmp_path / "tls" / "proxy.key").stat().st_mode & 0o077 == 0
    assert main(["proxy", "certs", "--out", str(tmp_path / "tls2"), "--ca-dir", str(tmp_path / "ca"),
                 "--name", "x.localhost"]) == 0
    assert (tmp_path / "ca" / "ca.pem").read_bytes() == ca  # the same CA, made once


def test_the_resolver_is_this_machines_first_name_server(tmp_path: Path) -> None:
    from services.tools.web_proxy import system_resolver

    conf = tmp_path / "resolv.conf"
    conf.write_text("# podman\nsearch dns.podman\nnameserver 10.89.77.1\nnameserver 1.1.1.1\n")
    assert system_resolver(conf) == "10.89.77.1"
    conf.write_text("search x\n")
    with pytest.raises(ProxyError, match="--resolver"):
        system_resolver(conf)
    sites = sites_from_settings(Settings(desk_public_url="https://desk.lapor.go.id"), {"desk": "desk:8074"})
    written = nginx_config(sites, Path("c"), Path("k"), Path("p"), resolver="fd00::1")
    assert "resolver [fd00::1] valid=10s ipv6=off;" in written
    assert "set $site_upstream desk:8074;" in written and "proxy_pass http://$site_upstream;" in written
    assert "resolver" not in nginx_config(sites, Path("c"), Path("k"), Path("p"))
