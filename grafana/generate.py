"""Write grafana/dashboards/*.json from the Python definitions in grafana/dashgen/.

python grafana/generate.py           # rewrite the committed JSON
python grafana/generate.py --check   # exit 1 if the committed JSON is stale
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from grafana_foundation_sdk.builders.dashboard import Dashboard
from grafana_foundation_sdk.cog.encoder import JSONEncoder

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from dashgen import collector, model, overview  # noqa: E402

OUT_DIR = HERE / "dashboards"
DASHBOARDS: dict[str, Callable[[], Dashboard]] = {
    "streamscope-overview.json": overview.build,
    "streamscope-model.json": model.build,
    "streamscope-collector.json": collector.build,
}


def render(build: Callable[[], Dashboard]) -> str:
    """Serialise one dashboard deterministically, numbering panels (rows included) from 1."""
    built = build().build()
    for number, panel in enumerate(built.panels or [], start=1):
        panel.id_val = number
    return json.dumps(built, cls=JSONEncoder, sort_keys=True, indent=2) + "\n"


def render_all() -> dict[str, str]:
    return {name: render(build) for name, build in DASHBOARDS.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the committed JSON differs")
    args = parser.parse_args(argv)
    stale = []
    for name, text in render_all().items():
        path = OUT_DIR / name
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            OUT_DIR.mkdir(exist_ok=True)
            path.write_text(text, encoding="utf-8")
    if stale:
        print(f"stale dashboards (run python grafana/generate.py): {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
