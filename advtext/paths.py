"""Where fetched corpora live: ``$ADVTEXT_DATA`` or ``data/`` beside the package."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def data_dir() -> Path:
    """The folder that ``make setup`` (``corpora/fetch.py``) fills."""
    return Path(os.environ.get("ADVTEXT_DATA", REPO_ROOT / "data"))
