"""The deployment artefacts under deploy/: the docker compose file, the Grafana provisioning
(data source, dashboard, SLO alert rules), the Helm chart and the Dockerfile.

These need no spyglass binary. `docker compose config` (or docker-compose v1's) validates the
compose file without a Docker daemon; the test is skipped only when no compose is installed
(on Debian 12: `apt-get install docker-compose`). The Helm chart is rendered and linted with
`helm` when it is installed; otherwise its templates are checked for balanced `{{ }}`, for
`.Values` paths that values.yaml defines and for `include`s of defined templates."""

from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import subprocess

import pytest
import yaml

REPO = pathlib.Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
COMPOSE_FILE = DEPLOY / "docker-compose.yml"
ENV_EXAMPLE = DEPLOY / ".env.example"
CHART = DEPLOY / "helm" / "spyglass"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "spyglass-overview.json"
DATASOURCE = DEPLOY / "grafana" / "provisioning" / "datasources" / "clickhouse.yaml"
ALERTS = DEPLOY / "grafana" / "provisioning" / "alerting" / "slo.yaml"

SERVICES = {"clickhouse", "redis", "spyglass-ingest", "spyglass-processor", "spyglass-api", "grafana"}


# --- docker compose ---------------------------------------------------------------------------

def _works(cmd: list[str]) -> bool:
    try:
        return subprocess.run(cmd, capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def compose_command() -> list[str] | None:
    """`docker compose` (the v2 plugin) when it works, else `docker-compose` (v2 standalone or
    Debian 12's v1.29), else None."""
    if shutil.which("docker") and _works(["docker", "compose", "version"]):
        return ["docker", "compose"]
    if shutil.which("docker-compose") and _works(["docker-compose", "version"]):
        return ["docker-compose"]
    return None


@pytest.fixture(scope="module")
def compose() -> list[str]:
    cmd = compose_command()
    if cmd is None:
        pytest.skip("no docker compose installed (neither the `docker compose` plugin nor `docker-compose`; "
                    "on Debian 12: apt-get install docker-compose)")
    return cmd


def _compose_env() -> dict[str, str]:
    # Only the env file decides the interpolated values, not the caller's environment.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CLICKHOUSE_", "GRAFANA_", "SPYGLASS_", "COMPOSE_", "DOCKER_HOST"))}
    # No daemon is needed for `config`; make sure none is asked for.
    env["DOCKER_HOST"] = "unix:///nonexistent/docker.sock"
    return env


def run_compose(compose: list[str], env_file: pathlib.Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*compose, "--env-file", str(env_file), "-f", str(COMPOSE_FILE), *args],
                          cwd=REPO, env=_compose_env(), capture_output=True, text=True, timeout=120)


def test_compose_config_is_valid(compose):
    out = run_compose(compose, ENV_EXAMPLE, "config")
    assert out.returncode == 0, f"{' '.join(compose)} config failed:\n{out.stderr}"
    config = yaml.safe_load(out.stdout)
    services = config["services"]
    assert SERVICES <= set(services), sorted(services)

    listed = run_compose(compose, ENV_EXAMPLE, "config", "--services")
    assert listed.returncode == 0, listed.stderr
    assert SERVICES <= set(listed.stdout.split())

    def env(name: str) -> dict:
        e = services[name].get("environment") or {}
        return dict(x.split("=", 1) for x in e) if isinstance(e, list) else e

    for role in ("ingest", "processor", "api"):
        s = services[f"spyglass-{role}"]
        assert s["image"] == "ghcr.io/spyglass-dev/spyglass:latest"
        e = env(f"spyglass-{role}")
        assert e["SPYGLASS_ROLE"] == role
        assert e["SPYGLASS_QUEUE"] == "redis://redis:6379"
        assert e["SPYGLASS_STORE"] == "clickhouse://spyglass@clickhouse:8123/spyglass"
        assert e["SPYGLASS_CLICKHOUSE_PASSWORD"] == "change-me-clickhouse"
        deps = s["depends_on"]
        assert isinstance(deps, dict), deps
        for dep in ("redis", "clickhouse"):
            assert deps[dep]["condition"] == "service_healthy"
    assert services["spyglass-api"]["build"]["dockerfile"] == "deploy/Dockerfile"
    assert services["spyglass-processor"]["deploy"]["replicas"] == 2
    assert "ports" not in services["spyglass-processor"]

    def published(name: str) -> set[int]:
        ports = set()
        for p in services[name].get("ports", []):
            if isinstance(p, dict):
                ports.add(int(p["published"]))
            else:  # "127.0.0.1:4317:4317/tcp"
                ports.add(int(str(p).split("/")[0].split(":")[-2]))
        return ports

    assert published("spyglass-ingest") == {4317, 4318}
    assert published("spyglass-api") == {8080}
    assert published("grafana") == {3000}

    redis_cmd = services["redis"]["command"]
    redis_cmd = redis_cmd.split() if isinstance(redis_cmd, str) else redis_cmd
    assert redis_cmd[:1] == ["redis-server"]
    joined = " ".join(str(x) for x in redis_cmd)
    assert "--appendonly yes" in joined and "--appendfsync always" in joined, joined
    for name in ("clickhouse", "redis", "spyglass-ingest", "spyglass-processor", "spyglass-api"):
        assert services[name].get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
        if name in ("clickhouse", "redis"):
            assert services[name].get("volumes"), f"{name} has no volume"
    assert services["clickhouse"]["ulimits"]["nofile"]
    assert env("grafana")["GF_INSTALL_PLUGINS"] == "grafana-clickhouse-datasource"
    mounts = " ".join(str(v) for v in services["grafana"]["volumes"])
    assert "/etc/grafana/provisioning" in mounts


def test_compose_refuses_to_start_without_passwords(compose, tmp_path):
    empty = tmp_path / "empty.env"
    empty.write_text("")
    out = run_compose(compose, empty, "config")
    assert out.returncode != 0, "compose config passed without CLICKHOUSE_PASSWORD"
    assert "CLICKHOUSE_PASSWORD" in out.stderr + out.stdout


def test_env_example_names_every_variable_the_compose_file_needs():
    needed = set(re.findall(r"\$\{([A-Z0-9_]+)", COMPOSE_FILE.read_text()))
    defined = {line.split("=", 1)[0] for line in ENV_EXAMPLE.read_text().splitlines()
               if line and not line.startswith("#") and "=" in line}
    assert needed <= defined, f"not in .env.example: {sorted(needed - defined)}"


# --- every YAML and JSON file parses ------------------------------------------------------------

def _deploy_files(*suffixes: str) -> list[pathlib.Path]:
    templates = CHART / "templates"
    return sorted(p for p in DEPLOY.rglob("*") if p.is_file() and p.suffix in suffixes
                  and templates not in p.parents)


def test_every_yaml_and_json_file_parses():
    yamls = _deploy_files(".yml", ".yaml")
    jsons = _deploy_files(".json")
    assert COMPOSE_FILE in yamls and DASHBOARD in jsons
    for path in yamls:
        docs = list(yaml.safe_load_all(path.read_text()))
        assert docs and all(d is not None for d in docs), f"{path}: empty document"
    for path in jsons:
        json.loads(path.read_text())


# --- Grafana ------------------------------------------------------------------------------------

def provisioned_datasource() -> dict:
    doc = yaml.safe_load(DATASOURCE.read_text())
    assert doc["apiVersion"] == 1
    [ds] = doc["datasources"]
    assert ds["type"] == "grafana-clickhouse-datasource"
    assert ds["jsonData"]["protocol"] in ("http", "native")
    assert "password" in ds["secureJsonData"]
    return ds


def _walk(node, key: str):
    """Every value stored under `key`, anywhere in a JSON document."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key:
                yield v
            yield from _walk(v, key)
    elif isinstance(node, list):
        for v in node:
            yield from _walk(v, key)


def test_dashboard_has_the_panels_and_uses_only_the_provisioned_datasource():
    uid = provisioned_datasource()["uid"]
    dash = json.loads(DASHBOARD.read_text())
    assert dash["uid"] == "spyglass-overview"
    assert 36 <= dash["schemaVersion"] <= 41
    assert dash["title"]
    panels = dash["panels"]

    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for p in panels:
        assert p["type"] in {"timeseries", "stat", "bargauge", "table", "piechart", "barchart", "row"}, p["type"]
        g = p["gridPos"]
        assert g["x"] >= 0 and g["w"] > 0 and g["x"] + g["w"] <= 24 and g["h"] > 0, (p["title"], g)
        if p["type"] == "row":
            continue
        assert p["targets"], p["title"]
        for t in p["targets"]:
            sql = t["rawSql"]
            assert t["refId"] and t["format"] in (0, 1), p["title"]
            assert re.search(r"\bspyglass\.(spans_minute|spans|findings)\b", sql), (p["title"], sql)
            assert "${project:singlequote}" in sql, f"{p['title']}: not filtered by the project variable"
            assert sql.count("(") == sql.count(")"), (p["title"], sql)

    titles = " | ".join(p["title"].lower() for p in panels)
    for word in ("p50", "p95", "p99", "error rate", "cost per minute", "cost by model", "throughput",
                 "tokens", "findings by severity"):
        assert word in titles, f"no panel for {word!r} in: {titles}"

    # Every datasource reference (panels, targets, variables) is the provisioned one.
    refs = list(_walk(dash["panels"], "datasource")) + list(_walk(dash["templating"], "datasource"))
    assert refs
    for ref in refs:
        assert ref == {"type": "grafana-clickhouse-datasource", "uid": uid}, ref
    assert set(_walk(dash, "uid")) <= {uid, "spyglass-overview", "-- Grafana --"}

    variables = {v["name"]: v for v in dash["templating"]["list"]}
    project = variables["project"]
    assert project["type"] == "query" and project["multi"] and project["includeAll"]
    assert "project_id" in project["query"]["rawSql"]


def test_dashboard_provider_points_at_the_mounted_dashboards():
    doc = yaml.safe_load((DEPLOY / "grafana" / "provisioning" / "dashboards" / "dashboards.yaml").read_text())
    [provider] = doc["providers"]
    assert provider["type"] == "file"
    compose = COMPOSE_FILE.read_text()
    assert f"./grafana/dashboards:{provider['options']['path']}" in compose


def test_slo_alert_rules():
    uid = provisioned_datasource()["uid"]
    doc = yaml.safe_load(ALERTS.read_text())
    assert doc["apiVersion"] == 1
    rules = [r for g in doc["groups"] for r in g["rules"]]
    by_uid = {r["uid"]: r for r in rules}
    assert set(by_uid) == {"spyglass-slo-p95-latency", "spyglass-slo-error-rate",
                           "spyglass-slo-cost-per-hour", "spyglass-slo-ingest-stalled"}
    for g in doc["groups"]:
        assert g["folder"] and g["interval"]
    for r in rules:
        refs = {d["refId"]: d for d in r["data"]}
        assert r["condition"] in refs, r["uid"]
        for d in r["data"]:
            assert d["datasourceUid"] in (uid, "__expr__"), d["datasourceUid"]
            assert d["model"]["refId"] == d["refId"]
            if d["datasourceUid"] == uid:
                assert "spyglass." in d["model"]["rawSql"] and d["relativeTimeRange"]["from"] > 0
            else:
                assert d["model"]["expression"] in refs
        assert r["noDataState"] in ("OK", "NoData", "Alerting")
        assert r["execErrState"] in ("OK", "Error", "Alerting")
    def threshold(rule):
        [c] = [d for d in rule["data"] if d["refId"] == rule["condition"]]
        ev = c["model"]["conditions"][0]["evaluator"]
        return ev["type"], ev["params"][0]
    assert threshold(by_uid["spyglass-slo-error-rate"]) == ("gt", 0.05)
    assert threshold(by_uid["spyglass-slo-ingest-stalled"])[0] == "lt"
    assert "10 MINUTE" in json.dumps(by_uid["spyglass-slo-ingest-stalled"]["data"])


# --- Helm chart ---------------------------------------------------------------------------------

def test_helm_chart_renders():
    helm = shutil.which("helm")
    if helm is None:
        pytest.skip("helm is not installed (test_helm_templates_are_consistent checks the chart statically)")
    for args in (["lint", str(CHART)],
                 ["lint", str(CHART), "--set", "ingress.enabled=true", "--set", "clickhouse.existingSecret=ch"]):
        out = subprocess.run([helm, *args], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stdout + out.stderr
    out = subprocess.run([helm, "template", "t", str(CHART), "--set", "clickhouse.password=x"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    docs = [d for d in yaml.safe_load_all(out.stdout) if d]
    kinds = {(d["kind"], d["metadata"]["name"]) for d in docs}
    for role in ("ingest", "processor", "api"):
        assert ("Deployment", f"t-spyglass-{role}") in kinds
    assert {("Service", "t-spyglass-ingest"), ("Service", "t-spyglass-api"), ("Secret", "t-spyglass-clickhouse")} <= kinds


def _values_has(values, path: list[str]) -> bool:
    node = values
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def test_helm_templates_are_consistent():
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2" and chart["name"] == "spyglass" and chart["version"]
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    for role in ("ingest", "processor", "api"):
        assert isinstance(values[role]["replicas"], int) and values[role]["resources"]
    templates = sorted((CHART / "templates").iterdir())
    names = {p.name for p in templates}
    for required in ("_helpers.tpl", "NOTES.txt", "deployment-ingest.yaml", "deployment-processor.yaml",
                     "deployment-api.yaml", "service-ingest.yaml", "service-api.yaml", "secret.yaml"):
        assert required in names, required

    defined = set()
    for p in templates:
        defined |= set(re.findall(r'\{\{-?\s*define\s+"([^"]+)"', p.read_text()))
    text_all = ""
    for p in templates:
        text = p.read_text()
        text_all += text
        assert text.count("{{") == text.count("}}"), f"{p.name}: unbalanced {{{{ }}}}"
        # No action opens inside another one.
        depth = 0
        for tok in re.findall(r"\{\{|\}\}", text):
            depth += 1 if tok == "{{" else -1
            assert depth in (0, 1), f"{p.name}: nested or stray braces"
        for ref in re.findall(r"\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)", text):
            path = ref.strip(".").split(".")
            assert _values_has(values, path), f"{p.name}: .Values.{'.'.join(path)} is not in values.yaml"
        for name in re.findall(r'(?:include|template)\s+"([^"]+)"', text):
            assert name in defined, f"{p.name}: include of undefined template {name!r}"
        # Blocks open and close.
        opens = len(re.findall(r"\{\{-?\s*(?:if|range|with|define)\b", text))
        ends = len(re.findall(r"\{\{-?\s*end\s*-?\}\}", text))
        assert opens == ends, f"{p.name}: {opens} blocks opened, {ends} ended"
    # Probes on the health endpoints of the contract.
    assert values["probes"]["liveness"]["path"] == "/healthz"
    assert values["probes"]["readiness"]["path"] == "/readyz"
    assert "livenessProbe" in text_all and "readinessProbe" in text_all


# --- Dockerfile ---------------------------------------------------------------------------------

def test_dockerfile_builds_the_binary_with_the_dashboard():
    text = (DEPLOY / "Dockerfile").read_text()
    stages = re.findall(r"^FROM\s+(\S+)", text, re.M)
    assert len(stages) >= 3, stages
    assert any(s.startswith("node:") for s in stages) and "NODE_VERSION=20" in text
    assert "scripts/build-ui" in text
    assert re.search(r"cargo build --release\b.*-p spyglass", text)
    assert stages[-1].startswith("debian:") and "DEBIAN_RELEASE=bookworm" in text
    assert re.search(r"^USER\s+(?!root)\S+", text, re.M), "the runtime image runs as root"
    for port in ("4317", "4318", "8080"):
        assert port in re.search(r"^EXPOSE .*$", text, re.M).group(0)
