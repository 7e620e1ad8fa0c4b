"""Read the queries back out of generated dashboard JSON, and expand Grafana variables so Prometheus can run them.

Used by the tests: every panel query is syntax-checked with promtool and evaluated against a real Prometheus.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

# Grafana's built-in interval variables, and the value that stands in for each when a test runs the query.
BUILTINS = ("$__rate_interval", "$__interval", "$__range")
VARIABLE = re.compile(r"\$\{?(\w+)\}?")


@dataclass(frozen=True)
class Target:
    dashboard: str
    panel: str
    ref_id: str
    expr: str
    instant: bool


def panels(dashboard: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """Every panel, including those nested in collapsed rows."""
    for panel in dashboard.get("panels") or []:
        yield panel
        yield from panel.get("panels") or []


def targets(dashboard: Mapping[str, Any]) -> list[Target]:
    found = []
    for panel in panels(dashboard):
        for target in panel.get("targets") or []:
            found.append(
                Target(
                    dashboard["uid"],
                    panel["title"],
                    target["refId"],
                    target["expr"],
                    bool(target.get("instant")),
                )
            )
    return found


def variables_used(expr: str) -> set[str]:
    return {name for name in VARIABLE.findall(expr) if not name.startswith("__")}


def expand(expr: str, values: Mapping[str, str], interval: str) -> str:
    """Replace ``$__rate_interval``-style built-ins with ``interval`` and ``$name``/``${name}`` with ``values``."""
    for builtin in BUILTINS:
        expr = expr.replace(builtin, interval)

    def substitute(match: re.Match[str]) -> str:
        return values[match.group(1)]

    return VARIABLE.sub(substitute, expr)


LABEL_VALUES = re.compile(r"^label_values\((?:(?P<match>.+),\s*)?(?P<label>\w+)\)$")


@dataclass(frozen=True)
class VariableQuery:
    dashboard: str
    name: str
    match: str  # series selector ("" = all series)
    label: str


def variable_queries(dashboard: Mapping[str, Any]) -> list[VariableQuery]:
    """The ``label_values(selector, label)`` query variables of a dashboard."""
    found = []
    for variable in dashboard["templating"]["list"]:
        if variable["type"] != "query":
            continue
        parsed = LABEL_VALUES.match(variable["query"])
        if parsed is None:
            raise ValueError(f"{variable['name']}: not a label_values() query: {variable['query']!r}")
        found.append(
            VariableQuery(dashboard["uid"], variable["name"], parsed["match"] or "", parsed["label"])
        )
    return found
