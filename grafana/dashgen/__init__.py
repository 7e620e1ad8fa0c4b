"""Grafana dashboards for streamscope, written as code with grafana-foundation-sdk (Grafana 11.6 build).

Run ``python grafana/generate.py`` to rewrite ``grafana/dashboards/*.json``; tests fail when the committed JSON
differs from what this package generates.
"""
