"""Grafana provisioning files: the shape Grafana's file provisioning reads, pointing at our dashboards."""

from __future__ import annotations

import json
import re
from pathlib import Path

import generate  # grafana/ is put on sys.path by conftest.py
import jsonschema
import yaml

GRAFANA = Path(generate.__file__).resolve().parent
PROVISIONING = GRAFANA / "provisioning"

# The fields Grafana documents for provisioning files ("Provision Grafana"); unknown keys are typos here.
DATASOURCES_SCHEMA = {
    "type": "object",
    "required": ["apiVersion", "datasources"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": 1},
        "deleteDatasources": {"type": "array"},
        "prune": {"type": "boolean"},
        "datasources": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["name", "type", "uid", "access", "url"],
                "additionalProperties": False,
                "properties": {
                    "name": {"type": "string"},
                    "type": {"type": "string"},
                    "uid": {"type": "string", "maxLength": 40},
                    "access": {"enum": ["proxy", "direct"]},
                    "url": {"type": "string"},
                    "orgId": {"type": "integer"},
                    "isDefault": {"type": "boolean"},
                    "editable": {"type": "boolean"},
                    "version": {"type": "integer"},
                    "basicAuth": {"type": "boolean"},
                    "basicAuthUser": {"type": "string"},
                    "user": {"type": "string"},
                    "database": {"type": "string"},
                    "withCredentials": {"type": "boolean"},
                    "jsonData": {"type": "object"},
                    "secureJsonData": {"type": "object"},
                },
            },
        },
    },
}
PROVIDERS_SCHEMA = {
    "type": "object",
    "required": ["apiVersion", "providers"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": 1},
        "providers": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["name", "type", "options"],
                "additionalProperties": False,
                "properties": {
                    "name": {"type": "string"},
                    "orgId": {"type": "integer"},
                    "folder": {"type": "string"},
                    "folderUid": {"type": "string"},
                    "type": {"const": "file"},
                    "disableDeletion": {"type": "boolean"},
                    "allowUiUpdates": {"type": "boolean"},
                    "updateIntervalSeconds": {"type": "integer", "minimum": 1},
                    "options": {
                        "type": "object",
                        "required": ["path"],
                        "additionalProperties": False,
                        "properties": {
                            "path": {"type": "string"},
                            "foldersFromFilesStructure": {"type": "boolean"},
                        },
                    },
                },
            },
        },
    },
}


def load(relative: str) -> dict[str, object]:
    data = yaml.safe_load((PROVISIONING / relative).read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_datasource_file_has_the_documented_shape() -> None:
    data = load("datasources/streamscope.yaml")
    jsonschema.validate(data, DATASOURCES_SCHEMA)
    (datasource,) = data["datasources"]  # type: ignore[misc]
    assert datasource["type"] == "prometheus"
    assert datasource["url"] == "${PROMETHEUS_URL}"
    # timeInterval must match the scrape interval, or $__rate_interval windows come out too short.
    prometheus = yaml.safe_load((GRAFANA / "prometheus/prometheus.yml").read_text(encoding="utf-8"))
    assert datasource["jsonData"]["timeInterval"] == prometheus["global"]["scrape_interval"]


def test_dashboard_provider_has_the_documented_shape() -> None:
    data = load("dashboards/streamscope.yaml")
    jsonschema.validate(data, PROVIDERS_SCHEMA)


def test_the_schemas_reject_typos() -> None:
    data = load("datasources/streamscope.yaml")
    data["datasources"][0]["jsonDta"] = {}  # type: ignore[index]
    errors = list(jsonschema.Draft7Validator(DATASOURCES_SCHEMA).iter_errors(data))
    assert any("'jsonDta' was unexpected" in error.message for error in errors)


def test_environment_references_are_plain_and_grafana_variables_are_escaped() -> None:
    """Grafana expands $VAR / ${VAR} in provisioning values; Grafana's own ${__value.raw} must be written $$."""
    for path in PROVISIONING.rglob("*.yaml"):
        text = "\n".join(line.split("#", 1)[0] for line in path.read_text(encoding="utf-8").splitlines())
        for match in re.finditer(r"(?<!\$)\$\{?([A-Za-z_]\w*)", text):
            assert re.fullmatch(r"[A-Z][A-Z0-9_]*", match.group(1)), (path.name, match.group(0))


def test_every_dashboard_has_a_unique_uid_and_the_provider_can_load_it() -> None:
    uids = [
        json.loads(path.read_text(encoding="utf-8"))["uid"]
        for path in (GRAFANA / "dashboards").glob("*.json")
    ]
    assert len(uids) == len(set(uids)) == 3
    assert all(8 <= len(uid) <= 40 for uid in uids)
