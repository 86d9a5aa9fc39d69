"""The repository root, on ``sys.path``: imported first by the benchmarks, which run as
``python bench/NAME.py`` from a clone (Python puts ``bench/`` itself on the path)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
