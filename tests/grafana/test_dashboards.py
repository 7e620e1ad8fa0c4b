"""The committed dashboards: fresh, valid Grafana 11.6 JSON, and every query well-formed PromQL."""

from __future__ import annotations

import copy
import json
import re
import subprocess
from pathlib import Path

import generate  # grafana/ is put on sys.path by conftest.py
import jsonschema
import pytest
import yaml
from dashgen import metrics, targets

GRAFANA = Path(generate.__file__).resolve().parent

SCHEMA = json.loads((Path(__file__).with_name("dashboard-v11.6.schema.json")).read_text(encoding="utf-8"))
DASHBOARD_FILES = sorted((GRAFANA / "dashboards").glob("*.json"))
DASHBOARDS = {path.name: json.loads(path.read_text(encoding="utf-8")) for path in DASHBOARD_FILES}
METRIC_NAMES = {value for name, value in vars(metrics).items() if name.isupper() and isinstance(value, str)}


def test_committed_dashboards_are_exactly_what_the_generator_writes() -> None:
    rendered = generate.render_all()
    assert sorted(rendered) == [path.name for path in DASHBOARD_FILES]
    for name, text in rendered.items():
        assert (GRAFANA / "dashboards" / name).read_text(encoding="utf-8") == text, (
            f"{name} is stale: run python grafana/generate.py"
        )


def test_check_mode_reports_a_stale_dashboard(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for path in DASHBOARD_FILES:
        (tmp_path / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setattr(generate, "OUT_DIR", tmp_path)
    assert generate.main(["--check"]) == 0
    stale = tmp_path / DASHBOARD_FILES[0].name
    stale.write_text(
        stale.read_text(encoding="utf-8").replace("streamscope", "streamscopf", 1), encoding="utf-8"
    )
    assert generate.main(["--check"]) == 1


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_dashboard_validates_against_the_grafana_11_6_schema(name: str) -> None:
    dashboard = DASHBOARDS[name]
    errors = [error.message for error in jsonschema.Draft7Validator(SCHEMA).iter_errors(dashboard)]
    assert errors == []
    assert dashboard["schemaVersion"] == 41


def test_the_schema_rejects_a_broken_dashboard() -> None:
    broken = copy.deepcopy(DASHBOARDS["streamscope-overview.json"])
    broken["schemaVersion"] = "41"
    broken["bogus"] = True
    messages = [error.message for error in jsonschema.Draft7Validator(SCHEMA).iter_errors(broken)]
    assert any("'bogus' was unexpected" in message for message in messages)
    assert any("is not of type 'integer'" in message for message in messages)


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_panels_are_uniquely_numbered_and_query_the_datasource_variable(name: str) -> None:
    dashboard = DASHBOARDS[name]
    panels = list(targets.panels(dashboard))
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids))
    variables = {variable["name"]: variable for variable in dashboard["templating"]["list"]}
    assert variables["datasource"]["query"] == "prometheus"
    for panel in panels:
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        ref_ids = [target["refId"] for target in panel["targets"]]
        assert ref_ids and len(ref_ids) == len(set(ref_ids)), panel["title"]
        assert all(ref_ids), panel["title"]


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_every_variable_a_query_uses_is_defined(name: str) -> None:
    dashboard = DASHBOARDS[name]
    defined = {variable["name"] for variable in dashboard["templating"]["list"]}
    for target in targets.targets(dashboard):
        assert targets.variables_used(target.expr) <= defined, (target.panel, target.expr)
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            assert targets.variables_used(variable["query"]) <= defined - {variable["name"]}


def test_queries_only_use_metrics_the_collector_exposes() -> None:
    """Every series name in a query is one of the names in dashgen.metrics (or Prometheus' own ``up``)."""
    known = METRIC_NAMES | {"up"}
    suffixes = ("_bucket", "_sum", "_count")
    for dashboard in DASHBOARDS.values():
        for target in targets.targets(dashboard):
            for series in {word for word in _series_names(target.expr)}:
                base = next((series[: -len(s)] for s in suffixes if series.endswith(s)), series)
                assert series in known or base in known, (target.panel, series)


def _series_names(expr: str) -> set[str]:
    return set(re.findall(r"\b([a-z_:][a-z0-9_:]*)\{", expr)) - {"by"}


def test_overview_covers_ttft_gap_and_duration_percentiles_and_outcomes() -> None:
    exprs = [target.expr for target in targets.targets(DASHBOARDS["streamscope-overview.json"])]
    for histogram in (
        metrics.TTFT,
        metrics.TTFC,
        metrics.CHUNK_GAP,
        metrics.DURATION,
        metrics.TOKENS_PER_SECOND,
    ):
        for q in ("0.5", "0.95", "0.99"):
            assert any(f"histogram_quantile({q}," in e and f"{histogram}_bucket" in e for e in exprs), (
                histogram,
                q,
            )
    for selector in (
        'outcome=~"error|timeout"',
        'outcome="abandoned"',
    ):  # the error rate and the abandon rate
        assert any(selector in e for e in exprs), selector
    assert any(metrics.STALLS in e for e in exprs)
    assert any(f"{metrics.TOKEN_USAGE}_sum" in e for e in exprs)


def test_panels_are_named_for_what_they_compute() -> None:
    """A panel titled TTFT reads the first-token histogram; "first chunk" panels the semconv one; every error-rate
    panel counts error and timeout (docs/concepts.md)."""
    for name, dashboard in DASHBOARDS.items():
        for target in targets.targets(dashboard):
            title = target.panel.lower()
            if "ttft" in title:
                assert metrics.TTFT in target.expr and metrics.TTFC not in target.expr, (name, target.panel)
            if "first chunk" in title:
                assert metrics.TTFC in target.expr, (name, target.panel)
        by_panel: dict[str, list[str]] = {}
        for target in targets.targets(dashboard):
            by_panel.setdefault(target.panel, []).append(target.expr)
        for title, exprs in by_panel.items():
            if "error" in title.lower() and ("rate" in title.lower() or "ratio" in title.lower()):
                assert any('outcome=~"error|timeout"' in e for e in exprs), (name, title)


def test_latency_panels_request_exemplars_and_the_datasource_links_them_to_the_trace_page() -> None:
    overview = DASHBOARDS["streamscope-overview.json"]
    ttft = next(panel for panel in targets.panels(overview) if panel["title"] == "Time to first chunk")
    assert all(target["exemplar"] for target in ttft["targets"])
    datasource = yaml.safe_load(
        (GRAFANA / "provisioning/datasources/streamscope.yaml").read_text(encoding="utf-8")
    )
    (destination,) = datasource["datasources"][0]["jsonData"]["exemplarTraceIdDestinations"]
    assert destination["name"] == "trace_id"
    # The streamscope dashboard's trace route is /traces/<trace_id>; `$$` survives Grafana's env expansion.
    assert destination["url"].endswith("/traces/$${__value.raw}")


@pytest.mark.integration
def test_every_panel_query_is_valid_promql(promtool: str, tmp_path: Path) -> None:
    """promtool parses each expanded query (wrapped as a recording rule, the cheapest offline PromQL parser)."""
    rules = []
    for dashboard in DASHBOARDS.values():
        for number, target in enumerate(targets.targets(dashboard)):
            values = {
                "service": ".*",
                "model": ".*",
                "job": ".*",
                "instance": ".*",
                "datasource": "prometheus",
            }
            rules.append(
                {
                    "record": f"check:{dashboard['uid'].replace('-', '_')}:{number}",
                    "expr": targets.expand(target.expr, values, "1m"),
                }
            )
    path = tmp_path / "panel-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "panels", "rules": rules}]}), encoding="utf-8")
    result = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_variables_are_label_values_queries_over_exposed_metrics(name: str) -> None:
    queries = targets.variable_queries(DASHBOARDS[name])
    assert queries, name
    for query in queries:
        assert query.label == query.name
        series = re.match(r"[a-z_:][a-z0-9_:]*", query.match)
        assert series is not None
        base = series.group(0).removesuffix("_count")
        assert base in METRIC_NAMES, query


def test_variable_parser_rejects_other_query_shapes() -> None:
    broken = copy.deepcopy(DASHBOARDS["streamscope-overview.json"])
    broken["templating"]["list"][1]["query"] = "query_result(up)"
    with pytest.raises(ValueError, match="not a label_values"):
        targets.variable_queries(broken)
