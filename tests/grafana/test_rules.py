"""Prometheus config, alert/recording rules and the Alertmanager example, checked by the real promtool/amtool."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import generate  # grafana/ is put on sys.path by conftest.py
import pytest
import yaml

GRAFANA = Path(generate.__file__).resolve().parent
PROMETHEUS = GRAFANA / "prometheus"
ALERTMANAGER = GRAFANA / "alertmanager" / "alertmanager.yml"
RULES = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text(encoding="utf-8"))
RULE_TESTS = yaml.safe_load((PROMETHEUS / "alerts.test.yml").read_text(encoding="utf-8"))
ALERTS = [rule for group in RULES["groups"] for rule in group["rules"] if "alert" in rule]

pytestmark = pytest.mark.integration


def run(*argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=cwd)


def test_promtool_accepts_the_prometheus_config_and_its_rule_file(promtool: str) -> None:
    result = run(promtool, "check", "config", str(PROMETHEUS / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 rule files found" in result.stdout


def test_promtool_accepts_the_rules(promtool: str) -> None:
    result = run(promtool, "check", "rules", str(PROMETHEUS / "alerts.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    total = sum(len(group["rules"]) for group in RULES["groups"])
    assert f"SUCCESS: {total} rules found" in result.stdout


def test_promtool_unit_tests_pass(promtool: str) -> None:
    result = run(promtool, "test", "rules", "alerts.test.yml", cwd=PROMETHEUS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_the_unit_tests_catch_a_changed_threshold(promtool: str, tmp_path: Path) -> None:
    for name in ("alerts.yml", "alerts.test.yml"):
        shutil.copy(PROMETHEUS / name, tmp_path / name)
    rules = (tmp_path / "alerts.yml").read_text(encoding="utf-8")
    changed = rules.replace("ratio_rate5m > 0.05", "ratio_rate5m > 0.5")
    assert changed != rules
    (tmp_path / "alerts.yml").write_text(changed, encoding="utf-8")
    result = run(promtool, "test", "rules", "alerts.test.yml", cwd=tmp_path)
    assert result.returncode != 0
    assert "StreamscopeErrorRateHigh" in result.stdout + result.stderr


def test_every_alert_has_a_firing_case_and_a_silent_case() -> None:
    cases: dict[str, list[list[object]]] = {}
    for test in RULE_TESTS["tests"]:
        for case in test.get("alert_rule_test", []):
            cases.setdefault(case["alertname"], []).append(case["exp_alerts"])
    for alert in ALERTS:
        name = alert["alert"]
        assert any(expected for expected in cases.get(name, [])), f"{name} never fires in alerts.test.yml"
        assert any(expected == [] for expected in cases.get(name, [])), f"{name} is never shown silent"


def test_alerts_carry_severity_and_runbook_annotations() -> None:
    docs = (GRAFANA.parent / "docs" / "grafana.md").read_text(encoding="utf-8").lower()
    for alert in ALERTS:
        assert alert["labels"]["severity"] in {"critical", "warning"}, alert["alert"]
        assert {"summary", "description", "runbook_url"} <= set(alert["annotations"]), alert["alert"]
        anchor = alert["annotations"]["runbook_url"].split("#", 1)[1]
        assert anchor == alert["alert"].lower()
        assert f"### {alert['alert'].lower()}" in docs, f"docs/grafana.md has no runbook for {alert['alert']}"


def test_amtool_accepts_the_alertmanager_example(amtool: str) -> None:
    result = run(amtool, "check-config", str(ALERTMANAGER))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("severity", "receiver"), [("critical", "pager"), ("warning", "chat"), ("info", "default")]
)
def test_alertmanager_routes_by_severity(amtool: str, severity: str, receiver: str) -> None:
    result = run(
        amtool,
        "config",
        "routes",
        "test",
        f"--config.file={ALERTMANAGER}",
        "alertname=StreamscopeHighTimeToFirstChunk",
        f"severity={severity}",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == receiver
