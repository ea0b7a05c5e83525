"""The path for machines with Docker, checked without a Docker engine: what docker-compose.yml and
deploy/Dockerfile say against what the code reads, serves and ships, and `followback infra up`'s
Compose branch (the environment it gives Compose, the DSN it gives the demo).
"""

from __future__ import annotations

import os
import re
import stat
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import SecretStr

from followback import runner
from followback.infra import compose, manager
from shared.settings import PREFIX, HttpSettings, PostgresSettings, Settings, _fields_along

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
SCRAPE_CONFIG = ROOT / "deploy" / "prometheus" / "prometheus.yml"
# ${VAR:?message} or ${VAR?message}: Compose refuses to do anything (for any service) without VAR.
REQUIRED = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*):?\?")
INTERPOLATION = re.compile(r"\$\{[^}]*\}")


@pytest.fixture(scope="module")
def services() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))["services"]
    return found


@pytest.fixture
def no_compose_secrets(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No password variable set, and an empty ``.infra`` of the test's own."""
    for name in REQUIRED.findall(COMPOSE_FILE.read_text(encoding="utf-8")):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FOLLOWBACK_INFRA_DIR", str(tmp_path))
    return tmp_path


def test_infra_up_gives_compose_every_variable_the_file_requires(no_compose_secrets: Path) -> None:
    # Before: FOLLOWBACK_POSTGRES_PASSWORD was missing, and `docker compose up` refused the file.
    env = compose.compose_env()
    required = set(REQUIRED.findall(COMPOSE_FILE.read_text(encoding="utf-8")))
    assert required >= {"FOLLOWBACK_POSTGRES_PASSWORD", "GRAFANA_ADMIN_PASSWORD"}
    missing = sorted(name for name in required if not env.get(name))
    assert not missing, f"`followback infra up` leaves these unset, and Compose refuses the file: {missing}"


def test_the_made_postgres_password_is_kept_private_and_reused(no_compose_secrets: Path) -> None:
    assert compose.postgres_password() is None  # (nothing made by a mere look)
    first = compose.compose_env()["FOLLOWBACK_POSTGRES_PASSWORD"]
    assert len(first) >= 32
    assert re.fullmatch(r"[0-9a-f]+", first), "the Compose file puts it into a DSN as is"
    assert compose.compose_env()["FOLLOWBACK_POSTGRES_PASSWORD"] == first  # the volume keeps the first
    assert stat.S_IMODE(compose.password_file().stat().st_mode) == 0o600


def test_an_exported_postgres_password_wins(
    no_compose_secrets: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FOLLOWBACK_POSTGRES_PASSWORD", "chosen by me")
    assert compose.compose_env()["FOLLOWBACK_POSTGRES_PASSWORD"] == "chosen by me"
    assert compose.dsn() == "postgresql://followback:chosen%20by%20me@127.0.0.1:15432/followback"
    assert not compose.password_file().exists()


def test_the_compose_dsn_carries_the_password_and_status_hides_it(no_compose_secrets: Path) -> None:
    password = compose.compose_env()["FOLLOWBACK_POSTGRES_PASSWORD"]
    dsn = manager.postgres_dsn(chosen="compose")
    assert dsn == f"postgresql://followback:{password}@127.0.0.1:15432/followback"
    assert manager.shown(dsn) == "postgresql://followback:***@127.0.0.1:15432/followback"
    local = manager.postgres_dsn(chosen="local")
    assert local == "postgresql://followback@127.0.0.1:15432/followback"
    assert manager.shown(local) == local


def test_the_demo_uses_the_started_servers_dsn_unless_one_is_given(no_compose_secrets: Path) -> None:
    from followback import demo

    password = compose.compose_env()["FOLLOWBACK_POSTGRES_PASSWORD"]
    chosen = demo.on_started_infra(Settings(), "compose")
    assert f":{password}@127.0.0.1:15432/" in chosen.postgres.dsn.get_secret_value()
    given = Settings(postgres=PostgresSettings(dsn=SecretStr("postgresql://me:pw@db.example/x")))
    assert demo.on_started_infra(given, "compose").postgres.dsn == given.postgres.dsn
    local = demo.on_started_infra(Settings(), "local").postgres.dsn.get_secret_value()
    assert local == "postgresql://followback@127.0.0.1:15432/followback"


def test_every_followback_variable_of_the_compose_file_is_a_setting(
    services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Settings ignore unknown variables (``extra="ignore"``): a renamed setting would be dropped in
    silence, and the service would run on its default (a loopback broker, say)."""
    for name in [n for n in os.environ if n.upper().startswith(PREFIX)]:
        monkeypatch.delenv(name)
    checked = 0
    for service_name, service in services.items():
        env = service.get("environment") or {}
        for key, value in env.items():
            if not key.startswith(PREFIX):
                continue
            path = key[len(PREFIX) :].lower().split("__")
            names, _ = _fields_along(path)
            assert names == path, f"{service_name}: {key} is no setting (shared/settings.py)"
            monkeypatch.setenv(key, INTERPOLATION.sub("password", str(value)))
            checked += 1
        settings = Settings()  # (valid values: this raises otherwise)
        for key in (k for k in env if k.startswith(PREFIX)):
            read: Any = settings
            for part in key[len(PREFIX) :].lower().split("__"):
                read = getattr(read, part)
            read = read.get_secret_value() if isinstance(read, SecretStr) else read
            assert str(read) == os.environ[key], key
        for key in env:
            monkeypatch.delenv(key, raising=False)
    assert checked >= 12


def app_paths(service: str) -> set[str]:
    """The HTTP paths a service routes (without starting it)."""
    app = runner.factory(service)(Settings())
    paths = set()
    for route in app.routes:
        if isinstance(route, tuple):
            paths.add(route[0])
        elif hasattr(route, "path"):
            paths.add(route.path)
    if hasattr(app, "openapi"):
        paths |= set(app.openapi()["paths"])
    return paths


@pytest.mark.parametrize("service", runner.SERVICES)
def test_healthcheck_and_scrape_target_are_the_services_own_port_and_routes(
    services: dict[str, dict[str, Any]], service: str
) -> None:
    port = getattr(HttpSettings(), f"{service}_port")
    probe = " ".join(services[service]["healthcheck"]["test"])
    [url] = re.findall(r"http://127\.0\.0\.1:(\d+)(/[^'\" ]*)", probe)
    assert int(url[0]) == port, f"{service}: the healthcheck asks port {url[0]}, the service has {port}"
    assert url[1] in app_paths(service), f"{service} has no route {url[1]}"
    assert "/metrics" in app_paths(service)
    assert services[service]["ports"] == [f"127.0.0.1:{port}:{port}"]
    scrape = yaml.safe_load(SCRAPE_CONFIG.read_text(encoding="utf-8"))
    [job] = [j for j in scrape["scrape_configs"] if j["job_name"] == service]
    assert job["static_configs"][0]["targets"] == [f"{service}:{port}"]
    assert job.get("metrics_path", "/metrics") == "/metrics"


def test_the_image_holds_the_packages_and_the_files_they_read_at_run_time() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    copies = re.findall(r"^COPY\s+(.+?)\s+(\S+)\s*$", text, re.MULTILINE)
    sources = [source for line, _ in copies for source in line.split()]
    for source in sources:
        assert (ROOT / source).exists(), f"COPY {source}: no such file"
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    packages = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    assert set(packages) <= set(sources), "the image lacks a package of the wheel"
    for needed in (
        "shared/migrations/0001.initial.sql",
        "services/scorer/models/authenticity-v1.json",
        "services/notifier/web/templates",
        "services/notifier/web/static",
    ):
        assert any(needed.startswith(f"{source}/") for source in sources), needed
        assert (ROOT / needed).exists(), needed
    [entrypoint] = re.findall(r'^ENTRYPOINT \["(\w+)"\]', text, re.MULTILINE)
    assert entrypoint in pyproject["project"]["scripts"]
    assert re.search(r"^USER (?!root)\w+", text, re.MULTILINE), "the services run as root"


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("0.0.0.0", "http://127.0.0.1:8084"),  # noqa: S104 - the image's listen address
        ("::", "http://[::1]:8084"),
        ("127.0.0.1", "http://127.0.0.1:8084"),
        ("queue.example", "http://queue.example:8084"),
        ("fd00::5", "http://[fd00::5]:8084"),
    ],
)
def test_links_in_pushes_never_name_a_wildcard_address(host: str, expected: str) -> None:
    from services.notifier.app import queue_url

    assert queue_url(Settings(http=HttpSettings(host=host))) == expected


def test_postgres_is_healthy_only_once_it_answers_over_tcp(services: dict[str, dict[str, Any]]) -> None:
    # The image's first start runs a server on the Unix socket alone (creating the user and the
    # database) and then restarts it: a check on the socket passed during that first server.
    assert "-h 127.0.0.1" in " ".join(services["postgres"]["healthcheck"]["test"])


@pytest.mark.parametrize("service", runner.SERVICES)
def test_the_services_read_the_other_settings_from_an_optional_file(
    services: dict[str, dict[str, Any]], service: str
) -> None:
    # Without it a Docker user could set no token, no session secret, no FOLLOWBACK_ENV=production
    # but by editing docker-compose.yml.
    assert {"path": "./followback.env", "required": False} in services[service]["env_file"]
    assert "followback.env" in (ROOT / ".gitignore").read_text(encoding="utf-8").split()


def test_infra_up_says_which_password_the_server_refused(
    no_compose_secrets: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncpg

    from followback.infra.paths import InfraError

    async def refuse(dsn: str) -> None:
        raise asyncpg.InvalidPasswordError("password authentication failed for user followback")

    monkeypatch.setattr(compose, "_compose", lambda *args: None)
    monkeypatch.setattr(asyncpg, "connect", refuse)
    with pytest.raises(InfraError, match=r"compose-postgres-password.*first start.*down -v"):
        compose.up()
    monkeypatch.setenv("FOLLOWBACK_POSTGRES_PASSWORD", "another")
    with pytest.raises(InfraError, match="refuses the password of FOLLOWBACK_POSTGRES_PASSWORD"):
        compose.up()
