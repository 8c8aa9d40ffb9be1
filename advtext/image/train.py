"""Training of image classifiers: shuffled tensor batches on the shared loop (advtext.training)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from advtext.image.classifier import ImageClassifier
from advtext.training import TrainSettings, TrainStep, accuracy, fit, seed_everything


def fit_images(clf: ImageClassifier, x: torch.Tensor, y: torch.Tensor, x_val: torch.Tensor, y_val: torch.Tensor,
               settings: TrainSettings, log: Callable[[str], None] = print,
               step: TrainStep | None = None, progress_file: Path | None = None,
               identity: dict | None = None, epoch_start: Callable[[int], None] | None = None) -> list[dict]:
    """Train ``clf`` on image tensors; validation accuracy every epoch, early stopping, best epoch kept,
    resumable through ``progress_file`` (see ``advtext.training.fit``, which calls ``epoch_start``)."""
    seed_everything(settings.seed)
    generator = torch.Generator().manual_seed(settings.seed)

    def epoch_batches():
        order = torch.randperm(len(y), generator=generator)
        for start in range(0, len(y), settings.batch_size):
            idx = order[start : start + settings.batch_size]
            yield x[idx].to(clf.device), y[idx].to(clf.device)

    return fit(clf.model, epoch_batches, len(y), lambda: accuracy(clf, x_val, y_val.tolist()), settings, log,
               step, progress_file, identity, epoch_start)
