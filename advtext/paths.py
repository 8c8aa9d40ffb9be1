"""Where fetched corpora live: ``$ADVTEXT_DATA`` or ``data/`` beside the package. Shared by the text and image
rooms, which never import each other."""

from __future__ import annotations

import os
from pathlib import Path

from advtext.errors import AdvtextError

FETCH_HINT = "run `make setup` (or `python corpora/fetch.py`) to fetch it"

REPO_ROOT = Path(__file__).resolve().parents[1]


def data_dir() -> Path:
    """The folder that ``make setup`` (``corpora/fetch.py``) fills."""
    return Path(os.environ.get("ADVTEXT_DATA", REPO_ROOT / "data"))


def corpus_file(*parts: str) -> Path:
    """Path of a fetched corpus file; a clear error naming the fetch command when it is missing."""
    path = data_dir().joinpath(*parts)
    if not path.exists():
        raise AdvtextError(f"corpus file {path} is missing: {FETCH_HINT}")
    return path
