"""Training of text classifiers: length-bucketed batches of token ids on the shared loop."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from advtext.text.classifier import TextClassifier, pad_ids
from advtext.training import TrainSettings, TrainStep, accuracy, fit, seed_everything


def length_bucketed_batches(lengths: Sequence[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Shuffled batches of indices; inside windows of 50 batches rows are sorted by length to cut padding."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    window = 50 * batch_size
    batches = []
    for start in range(0, len(order), window):
        chunk = sorted(order[start : start + window], key=lambda i: lengths[i])
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def fit_text(clf: TextClassifier, train_texts: Sequence[str], train_labels: Sequence[int],
             val_texts: Sequence[str], val_labels: Sequence[int], settings: TrainSettings,
             log: Callable[[str], None] = print, step: TrainStep | None = None, progress_file: Path | None = None,
             identity: dict | None = None, epoch_start: Callable[[int], None] | None = None) -> list[dict]:
    """Train ``clf`` on texts; validation accuracy every epoch, early stopping, best epoch kept,
    resumable through ``progress_file`` (see ``advtext.training.fit``)."""
    seed_everything(settings.seed)
    rng = random.Random(settings.seed)
    ids = clf.token_ids(train_texts)
    lengths = [len(r) for r in ids]

    def epoch_batches():
        for batch in length_bucketed_batches(lengths, settings.batch_size, rng):
            yield (pad_ids([ids[i] for i in batch], clf.device),
                   torch.tensor([train_labels[i] for i in batch], device=clf.device))

    return fit(clf.model, epoch_batches, len(ids), lambda: accuracy(clf, val_texts, val_labels), settings, log,
               step, progress_file, identity, epoch_start)
