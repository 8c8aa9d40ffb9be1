"""Training of image classifiers on in-memory tensors.

Settings, seeding, accuracy and the classification report are the text side's
(``advtext.text.train``); they only need ``predict_proba`` and ``num_classes``, which
``ImageClassifier`` provides. What differs is the batching: shuffled fixed-size tensor batches
instead of length-bucketed token lists.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable

import torch
from torch import nn

from advtext.image.classifier import ImageClassifier
from advtext.progress import progress_bar
from advtext.text.train import TrainSettings, accuracy, seed_everything


def train_epoch(model: nn.Module, x: torch.Tensor, y: torch.Tensor, settings: TrainSettings,
                optimizer: torch.optim.Optimizer, generator: torch.Generator, device: torch.device,
                description: str, loss_fn: Callable | None = None) -> float:
    """One shuffled pass; returns the mean training loss. ``loss_fn(model, x, y)`` replaces cross-entropy."""
    model.train()
    order = torch.randperm(len(y), generator=generator)
    total = 0.0
    with progress_bar(len(y), description) as bar:
        for start in range(0, len(y), settings.batch_size):
            idx = order[start : start + settings.batch_size]
            xb, yb = x[idx].to(device), y[idx].to(device)
            loss = loss_fn(model, xb, yb) if loss_fn else nn.functional.cross_entropy(model(xb), yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
            optimizer.step()
            total += loss.item() * len(idx)
            bar.advance(len(idx), loss=total / (start + len(idx)))
    return total / len(y)


def fit(clf: ImageClassifier, x: torch.Tensor, y: torch.Tensor, x_val: torch.Tensor, y_val: torch.Tensor,
        settings: TrainSettings, log: Callable[[str], None] = print, loss_fn: Callable | None = None) -> list[dict]:
    """Train with a validation pass per epoch; keeps the best epoch's weights, stops after ``patience``."""
    seed_everything(settings.seed)
    generator = torch.Generator().manual_seed(settings.seed)
    optimizer = torch.optim.Adam(clf.model.parameters(), lr=settings.lr)
    history, best, best_state, stale = [], -1.0, None, 0
    for epoch in range(1, settings.epochs + 1):
        start = time.perf_counter()
        loss = train_epoch(clf.model, x, y, settings, optimizer, generator, clf.device,
                           f"epoch {epoch}/{settings.epochs}", loss_fn)
        seconds = time.perf_counter() - start
        val_acc = accuracy(clf, x_val, y_val.tolist())
        history.append({"epoch": epoch, "train_loss": round(loss, 5), "val_accuracy": round(val_acc, 5),
                        "seconds": round(seconds, 2)})
        log(f"epoch {epoch}: train loss {loss:.4f}  validation accuracy {val_acc:.4f}  ({seconds:.1f}s)")
        if val_acc > best:
            best, best_state, stale = val_acc, copy.deepcopy(clf.model.state_dict()), 0
        else:
            stale += 1
            if stale >= settings.patience:
                log(f"early stop: validation accuracy has not improved for {stale} epoch(s)")
                break
    clf.model.load_state_dict(best_state)
    clf.model.eval()
    return history
