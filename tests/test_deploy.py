"""deploy/: the example deployment parses, its Prometheus config passes promtool, and its commands exist."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import click
import pytest
import yaml

from streamscope.cli import main

DEPLOY = Path(__file__).parents[1] / "deploy"


def _docs(path: Path) -> list[dict[str, object]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _flags_exist(args: list[str]) -> None:
    cli = main.get_command(click.Context(main), args[0])
    assert cli is not None, args[0]
    known = {opt for p in cli.params for opt in p.opts}
    assert all(a in known for a in args if a.startswith("--")), args


def test_compose_runs_real_commands_on_one_store() -> None:
    (compose,) = _docs(DEPLOY / "compose.yaml")
    services = compose["services"]  # type: ignore[index]
    for name in ("collector", "dashboard"):
        _flags_exist(services[name]["command"])
        assert "STREAMSCOPE_STORE" in services[name]["environment"]
    assert services["collector"]["deploy"]["replicas"] > 1


def test_kubernetes_example_parses_and_its_commands_exist() -> None:
    docs = _docs(DEPLOY / "k8s" / "streamscope.yaml") + _docs(DEPLOY / "k8s" / "clickhouse.yaml")
    kinds = [d["kind"] for d in docs]
    assert kinds.count("Deployment") == 2 and "Service" in kinds and "StatefulSet" in kinds
    for d in docs:
        if d["kind"] == "Deployment":
            (container,) = d["spec"]["template"]["spec"]["containers"]  # type: ignore[index]
            _flags_exist(container["args"])


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_prometheus_config_is_valid(tmp_path: Path) -> None:
    shutil.copy(DEPLOY / "prometheus.yml", tmp_path / "prometheus.yml")
    (tmp_path / "streamscope").symlink_to(DEPLOY.parent / "grafana" / "prometheus")
    r = subprocess.run(["promtool", "check", "config", str(tmp_path / "prometheus.yml")], capture_output=True,
                       text=True, timeout=60)  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
