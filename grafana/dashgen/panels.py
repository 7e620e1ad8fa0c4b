"""Small builders shared by every dashboard: datasource ref, variables, PromQL fragments and panel shapes."""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import DatasourceVariable, QueryVariable
from grafana_foundation_sdk.builders.heatmap import Panel as Heatmap
from grafana_foundation_sdk.builders.prometheus import Dataquery
from grafana_foundation_sdk.builders.stat import Panel as Stat
from grafana_foundation_sdk.builders.timeseries import Panel as TimeSeries
from grafana_foundation_sdk.models.dashboard import DataSourceRef, VariableRefresh, VariableSort
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

from . import metrics as m

DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
RATE = "$__rate_interval"
QUANTILES = (0.5, 0.95, 0.99)
REF_IDS = "ABCDEFGHIJ"

# Selector shared by every stream query; $service and $model are multi-value variables ("All" = ".*").
STREAM_SELECTOR = f'{m.SERVICE}=~"$service", {m.MODEL}=~"$model"'


def datasource_variable() -> DatasourceVariable:
    return DatasourceVariable("datasource").label("Data source").type("prometheus")


def label_variable(name: str, label: str, query: str, *, multi: bool = True) -> QueryVariable:
    """A variable listing the values of ``name`` found by ``label_values(query, name)``."""
    variable = (
        QueryVariable(name)
        .label(label)
        .datasource(DATASOURCE)
        .query(f"label_values({query}, {name})")
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_ASC)
    )
    if multi:
        variable = variable.multi(True).include_all(True).all_value(".*")
    return variable


def stream_variables() -> list[DatasourceVariable | QueryVariable]:
    return [
        datasource_variable(),
        label_variable(m.SERVICE, "Service", f"{m.DURATION}_count"),
        label_variable(m.MODEL, "Model", f'{m.DURATION}_count{{{m.SERVICE}=~"$service"}}'),
    ]


def quantile(q: float, histogram: str, by: str, selector: str = STREAM_SELECTOR) -> str:
    """``histogram_quantile`` over a classic histogram, aggregated ``by`` the given labels (plus ``le``)."""
    group = f"le, {by}" if by else "le"
    return f"histogram_quantile({q}, sum by ({group}) (rate({histogram}_bucket{{{selector}}}[{RATE}])))"


def query(expr: str, legend: str, ref_id: str, *, exemplar: bool = False) -> Dataquery:
    return Dataquery().expr(expr).legend_format(legend).ref_id(ref_id).range().exemplar(exemplar)


def timeseries(
    title: str, description: str, unit: str, targets: list[Dataquery], *, width: int = 8
) -> TimeSeries:
    panel = TimeSeries().title(title).description(description).datasource(DATASOURCE).unit(unit)
    panel = panel.span(width).height(8).fill_opacity(10).line_width(1)
    for target in targets:
        panel = panel.with_target(target)
    return panel


def quantile_panel(
    title: str, description: str, histogram: str, by: str, *, unit: str = "s", width: int = 8
) -> TimeSeries:
    """p50 / p95 / p99 of ``histogram`` per ``by`` label; exemplars on, so points link to the trace."""
    targets = [
        query(
            quantile(q, histogram, by),
            f"p{round(q * 100)} {{{{{by}}}}}" if by else f"p{round(q * 100)}",
            REF_IDS[i],
            exemplar=True,
        )
        for i, q in enumerate(QUANTILES)
    ]
    return timeseries(title, description, unit, targets, width=width)


def stat(title: str, description: str, unit: str, expr: str, *, width: int = 6) -> Stat:
    target = Dataquery().expr(expr).ref_id("A").instant().legend_format("__auto")
    return (
        Stat()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .span(width)
        .height(4)
        .with_target(target)
    )


def heatmap(title: str, description: str, histogram: str, selector: str = STREAM_SELECTOR) -> Heatmap:
    target = (
        Dataquery()
        .expr(f"sum by (le) (increase({histogram}_bucket{{{selector}}}[{RATE}]))")
        .format(PromQueryFormat.HEATMAP)
        .legend_format("{{le}}")
        .ref_id("A")
        .range()
    )
    return (
        Heatmap()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit("s")
        .span(12)
        .height(8)
        .with_target(target)
    )
