"""The tracing tests import their helpers (``otlp_receiver``) by module name from this folder."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
