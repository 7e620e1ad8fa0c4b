from __future__ import annotations

import sys
from pathlib import Path

# the collector's and the dashboard's test helpers (OTLP builders, seeded data, collector subprocesses)
sys.path.insert(0, str(Path(__file__).parent.parent / "collector"))
sys.path.insert(0, str(Path(__file__).parent.parent / "dashboard"))
