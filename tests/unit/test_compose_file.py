"""docker-compose.yml is a valid Compose file and describes the whole followback stack.

The file is validated against the Compose Specification JSON schema vendored in
``tests/data/compose-spec.json`` (see ``tests/data/README.md``), so no Docker engine is needed.
"""

from __future__ import annotations

import copy
import json
import posixpath
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from jsonschema import validators

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
SCHEMA_FILE = ROOT / "tests" / "data" / "compose-spec.json"

INFRA_SERVICES = ("kafka", "postgres")
APP_PORTS = {"ingest": 8081, "churn": 8082, "scorer": 8083, "notifier": 8084}
APP_SERVICES = tuple(APP_PORTS)
MONITORING = {"prometheus": ("prom/prometheus", 9090), "grafana": ("grafana/grafana", 3000)}

# ${VAR}, ${VAR?msg} or ${VAR:?msg}: a value taken from the environment with no fallback.
# ${VAR:-default} and ${VAR-default} are refused: the default would be a literal secret.
ENV_WITHOUT_DEFAULT = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*(?::?\?[^}]*)?\}$")
REQUIRED_ENV = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*:\?[^}]*\}$")
SECRET_KEY = re.compile(r"PASSWORD|SECRET|TOKEN", re.IGNORECASE)
URL_PASSWORD = re.compile(r"://[^/@\s]*?:(?P<password>[^@\s]+)@")


def _normalized_uri(uri: str) -> str:
    """A metaschema URI without scheme, fragment and trailing slash, for comparison."""
    uri = re.sub(r"^https?://", "", uri.strip())
    return uri.rstrip("#").rstrip("/")


def validator_class(schema: dict[str, Any]) -> type[Any]:
    """The validator of the draft the schema declares in ``$schema``.

    ``validator_for`` knows each draft by its canonical URI (``http://...#``); the Compose schema
    spells draft-07 as ``https://json-schema.org/draft-07/schema``, so an unknown spelling is
    matched against the known metaschemas by URI without scheme and fragment. A declared draft
    that matches none of them fails the test instead of silently using the latest draft.
    """
    found = validators.validator_for(schema, default=None)
    if found is not None:
        return found  # type: ignore[no-any-return]
    declared = _normalized_uri(schema["$schema"])
    known = [
        jsonschema.Draft4Validator,
        jsonschema.Draft6Validator,
        jsonschema.Draft7Validator,
        jsonschema.Draft201909Validator,
        jsonschema.Draft202012Validator,
    ]
    for cls in known:
        meta_id = cls.META_SCHEMA.get("$id", cls.META_SCHEMA.get("id", ""))
        if _normalized_uri(meta_id) == declared:
            return cls
    pytest.fail(f"the schema declares an unknown draft: {schema['$schema']!r}")


def schema_errors(schema: dict[str, Any], document: Any) -> list[str]:
    """Every validation error, as ``path: message`` lines in a stable order."""
    cls = validator_class(schema)
    validator = cls(schema)
    errors = sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.absolute_path)))
    return [f"{e.json_path}: {e.message}" for e in errors]


def environment(service: dict[str, Any]) -> dict[str, Any]:
    """A service's environment as a mapping, whether written as a mapping or as KEY=VALUE list."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return dict(env)


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    return loaded


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    return loaded


@pytest.fixture
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose["services"]
    return found


def test_vendored_schema_is_the_compose_specification(schema: dict[str, Any]) -> None:
    assert schema["title"] == "Compose Specification"
    assert "service" in schema["definitions"]
    cls = validator_class(schema)
    assert cls is jsonschema.Draft7Validator
    cls.check_schema(schema)


def test_compose_file_matches_the_compose_schema(schema: dict[str, Any], compose: dict[str, Any]) -> None:
    errors = schema_errors(schema, compose)
    assert not errors, "docker-compose.yml does not match the Compose schema:\n" + "\n".join(errors)


def test_defines_the_infrastructure_and_the_four_services(
    services: dict[str, dict[str, Any]],
) -> None:
    assert set(services) >= {*INFRA_SERVICES, *APP_SERVICES}


def test_every_service_has_a_healthcheck(services: dict[str, dict[str, Any]]) -> None:
    missing = [
        name
        for name, service in services.items()
        if not (service.get("healthcheck") or {}).get("test")
        or service["healthcheck"].get("disable") in (True, "true")
    ]
    assert not missing, f"services without a healthcheck: {missing}"


def test_postgres_password_comes_from_the_environment(
    services: dict[str, dict[str, Any]],
) -> None:
    password = environment(services["postgres"])["POSTGRES_PASSWORD"]
    assert isinstance(password, str)
    assert REQUIRED_ENV.match(password), (
        f"POSTGRES_PASSWORD must be a required interpolation ${{VAR:?message}}, got {password!r}"
    )


def test_no_service_has_a_literal_secret(services: dict[str, dict[str, Any]]) -> None:
    offending = []
    for name, service in services.items():
        for key, value in environment(service).items():
            if value is None:
                continue
            text = str(value)
            if SECRET_KEY.search(key) and not ENV_WITHOUT_DEFAULT.match(text):
                offending.append(f"{name}.{key}")
            for match in URL_PASSWORD.finditer(text):
                if not ENV_WITHOUT_DEFAULT.match(match["password"]):
                    offending.append(f"{name}.{key} (password in URL)")
    assert not offending, f"literal secrets or secret defaults: {offending}"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_are_built_from_the_project_dockerfile(
    services: dict[str, dict[str, Any]], name: str
) -> None:
    service = services[name]
    build = service["build"]
    assert isinstance(build, dict)
    assert build["dockerfile"] == "deploy/Dockerfile"
    context = COMPOSE_FILE.parent / build.get("context", ".")
    assert context.resolve() == ROOT
    assert (context / build["dockerfile"]).is_file()
    assert service["command"] == ["run", name]


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_reach_kafka_postgres_and_their_port(
    services: dict[str, dict[str, Any]], name: str
) -> None:
    service = services[name]
    port = APP_PORTS[name]
    env = environment(service)
    assert env["FOLLOWBACK_KAFKA__BOOTSTRAP_SERVERS"] == "kafka:9092"
    assert "@postgres:5432/" in env["FOLLOWBACK_POSTGRES__DSN"]
    assert env["FOLLOWBACK_HTTP__HOST"] == "0.0.0.0"  # noqa: S104 - inside the container
    for dependency in INFRA_SERVICES:
        assert service["depends_on"][dependency]["condition"] == "service_healthy"
    assert any(str(p).endswith(f":{port}") for p in service["ports"])
    probe = " ".join(service["healthcheck"]["test"])
    assert f"http://127.0.0.1:{port}/healthz" in probe


def bind_mounts(service: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """A service's bind mounts of repository files as (source, target, read-only)."""
    found = []
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            if volume.get("type") == "bind":
                found.append((volume["source"], volume["target"], bool(volume.get("read_only"))))
            continue
        source, target, *mode = str(volume).split(":")
        if source.startswith((".", "/")):
            found.append((source, target, "ro" in "".join(mode).split(",")))
    return found


@pytest.mark.parametrize("name", MONITORING)
def test_monitoring_runs_only_in_its_profile_on_localhost(
    services: dict[str, dict[str, Any]], name: str
) -> None:
    image, port = MONITORING[name]
    service = services[name]
    assert service["profiles"] == ["monitoring"]
    assert service["image"].split(":")[0] == image
    assert service["ports"] == [f"127.0.0.1:{port}:{port}"]
    assert f"http://127.0.0.1:{port}/" in " ".join(service["healthcheck"]["test"])


@pytest.mark.parametrize("name", MONITORING)
def test_monitoring_mounts_repository_files_read_only(services: dict[str, dict[str, Any]], name: str) -> None:
    mounts = bind_mounts(services[name])
    assert mounts, f"{name} mounts no configuration from the repository"
    for source, target, read_only in mounts:
        assert (COMPOSE_FILE.parent / source).exists(), f"{name}: {source} is not in the repository"
        assert read_only, f"{name}: {source} -> {target} must be mounted read-only"


def test_prometheus_reads_the_shipped_scrape_configuration(services: dict[str, dict[str, Any]]) -> None:
    prometheus = services["prometheus"]
    mounted = {target: source for source, target, _ in bind_mounts(prometheus)}
    [flag] = [arg for arg in prometheus["command"] if arg.startswith("--config.file=")]
    assert mounted[flag.split("=", 1)[1]] == "./deploy/prometheus/prometheus.yml"


def test_prometheus_finds_the_alerting_rules_beside_its_configuration(
    services: dict[str, dict[str, Any]],
) -> None:
    prometheus = services["prometheus"]
    mounted = {target: source for source, target, _ in bind_mounts(prometheus)}
    [flag] = [arg for arg in prometheus["command"] if arg.startswith("--config.file=")]
    config = yaml.safe_load((ROOT / mounted[flag.split("=", 1)[1]]).read_text(encoding="utf-8"))
    assert config["rule_files"], "prometheus.yml loads no alerting rules"
    for name in config["rule_files"]:  # (relative to the configuration file, in the container too)
        inside = posixpath.join(posixpath.dirname(flag.split("=", 1)[1]), name)
        assert mounted.get(inside) == f"./deploy/prometheus/{name}", f"{name} is not mounted at {inside}"


def test_grafana_is_provisioned_from_the_repository(services: dict[str, dict[str, Any]]) -> None:
    grafana = services["grafana"]
    mounted = {target: source for source, target, _ in bind_mounts(grafana)}
    provider = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/dashboards/followback.yml").read_text(encoding="utf-8")
    )
    dashboards = provider["providers"][0]["options"]["path"]
    assert mounted[dashboards] == "./deploy/grafana/dashboards"
    assert mounted["/etc/grafana/provisioning/datasources"] == "./deploy/grafana/provisioning/datasources"
    assert grafana["depends_on"]["prometheus"]["condition"] == "service_healthy"


def test_grafana_admin_password_comes_from_the_environment(services: dict[str, dict[str, Any]]) -> None:
    password = environment(services["grafana"])["GF_SECURITY_ADMIN_PASSWORD"]
    assert isinstance(password, str)
    assert REQUIRED_ENV.match(password), f"the Grafana password must be ${{VAR:?message}}, got {password!r}"


def _kafka_ports_as_int(document: dict[str, Any]) -> None:
    document["services"]["kafka"]["ports"] = 19092


def _unknown_top_level_key(document: dict[str, Any]) -> None:
    document["servicez"] = {}


def _unknown_depends_on_condition(document: dict[str, Any]) -> None:
    document["services"]["ingest"]["depends_on"]["kafka"]["condition"] = "service_ready"


@pytest.mark.parametrize(
    ("breakage", "where"),
    [
        (_kafka_ports_as_int, "$.services.kafka.ports"),
        (_unknown_top_level_key, "servicez"),
        (_unknown_depends_on_condition, "$.services.ingest.depends_on"),
    ],
)
def test_the_schema_check_catches_a_broken_file(
    schema: dict[str, Any], compose: dict[str, Any], breakage: Any, where: str
) -> None:
    broken = copy.deepcopy(compose)
    breakage(broken)
    errors = schema_errors(schema, broken)
    assert errors, "a broken copy of docker-compose.yml passed the schema check"
    assert any(where in error for error in errors), errors


def test_infra_up_through_compose_needs_no_grafana_password(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from followback.infra import compose as infra_compose

    monkeypatch.setenv("FOLLOWBACK_INFRA_DIR", str(tmp_path))  # (where a PostgreSQL password is made)
    assert "grafana" not in infra_compose.SERVICES
    monkeypatch.delenv("GRAFANA_ADMIN_PASSWORD", raising=False)
    assert infra_compose.compose_env()["GRAFANA_ADMIN_PASSWORD"]
    monkeypatch.setenv("GRAFANA_ADMIN_PASSWORD", "chosen-by-the-operator")
    assert infra_compose.compose_env()["GRAFANA_ADMIN_PASSWORD"] == "chosen-by-the-operator"
