"""Which texts a run was trained on, kept in its run directory.

Corpora that advtext splits itself (rotten-tomatoes, a user's file) are split with a seed. That seed
belongs to the run: ``eval``, ``attack`` and ``robustness`` split the corpus with it, whatever seed
drives their own draws, and a digest of every training and validation text lets them say how many of
the texts they measure the model has already seen.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from pathlib import Path

from advtext import strict_json
from advtext.errors import AdvtextError

SEEN_TEXTS = "seen_texts.json"


def text_digest(text: str) -> str:
    """A short, stable digest of one text (64 bits of its sha256)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def texts_fingerprint(texts: Iterable[str], labels: Iterable[int]) -> str:
    """sha256 of a list of labelled texts, in order: what attack records were drawn from."""
    h = hashlib.sha256()
    for text, label in zip(texts, labels, strict=True):
        h.update(f"{label}\t{text_digest(text)}\n".encode())
    return h.hexdigest()


def save_seen_texts(run_dir: Path, split_seed: int, train_texts: Sequence[str], val_texts: Sequence[str]) -> None:
    """Record the split seed and the digests of the texts a model was trained and early-stopped on."""
    record = {"split_seed": split_seed, "train": sorted({text_digest(t) for t in train_texts}),
              "validation": sorted({text_digest(t) for t in val_texts})}
    (run_dir / SEEN_TEXTS).write_text(strict_json.dumps(record) + "\n", encoding="utf-8")


def split_seed(run_info: dict) -> int:
    """The seed that split the run's training corpus (runs saved before it was recorded: their seed)."""
    return int(run_info.get("split_seed", run_info.get("seed", 0)))


def seen_in_training(run_dir: str | Path, texts: Sequence[str]) -> int | None:
    """How many of ``texts`` the run was trained or early-stopped on (None when the run has no record)."""
    path = Path(run_dir) / SEEN_TEXTS
    if not path.exists():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        seen = set(record["train"]) | set(record["validation"])
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError):
        raise AdvtextError(f"{path} is damaged: restore it or retrain the model") from None
    return sum(text_digest(t) in seen for t in texts)
