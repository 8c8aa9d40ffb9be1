"""Training and evaluation of text classifiers (length-bucketed batches, early stopping, seeds)."""

from __future__ import annotations

import copy
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from advtext.progress import progress_bar
from advtext.text.classifier import TextClassifier, pad_ids


@dataclass
class TrainSettings:
    epochs: int = 4
    batch_size: int = 64
    lr: float = 2e-3
    patience: int = 2
    grad_clip: float = 5.0
    seed: int = 0


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)


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


def train_epoch(model: nn.Module, ids: list[list[int]], labels: list[int], settings: TrainSettings,
                optimizer: torch.optim.Optimizer, rng: random.Random, device: torch.device, description: str,
                loss_fn: Callable | None = None) -> float:
    """One pass over the data; returns the mean training loss.

    ``loss_fn(model, x_ids, y) -> loss`` replaces plain cross-entropy (adversarial training uses it).
    """
    model.train()
    batches = length_bucketed_batches([len(r) for r in ids], settings.batch_size, rng)
    total, seen = 0.0, 0
    with progress_bar(len(labels), description) as bar:
        for batch in batches:
            x = pad_ids([ids[i] for i in batch], device)
            y = torch.tensor([labels[i] for i in batch], device=device)
            loss = loss_fn(model, x, y) if loss_fn else nn.functional.cross_entropy(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
            optimizer.step()
            total += loss.item() * len(batch)
            seen += len(batch)
            bar.advance(len(batch), loss=total / seen)
    return total / seen


def fit(clf: TextClassifier, train_texts: Sequence[str], train_labels: list[int], val_texts: Sequence[str],
        val_labels: list[int], settings: TrainSettings, log: Callable[[str], None] = print) -> list[dict]:
    """Train with validation every epoch and early stopping on validation accuracy.

    The weights of the best epoch are kept. Returns one dict of figures per epoch.
    """
    seed_everything(settings.seed)
    rng = random.Random(settings.seed)
    train_ids = clf.token_ids(train_texts)
    optimizer = torch.optim.Adam(clf.model.parameters(), lr=settings.lr)
    history, best, best_state, stale = [], -1.0, None, 0
    for epoch in range(1, settings.epochs + 1):
        start = time.perf_counter()
        loss = train_epoch(clf.model, train_ids, train_labels, settings, optimizer, rng, clf.device,
                           f"epoch {epoch}/{settings.epochs}")
        seconds = time.perf_counter() - start
        val_acc = accuracy(clf, val_texts, val_labels)
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


def accuracy(clf: TextClassifier, texts: Sequence[str], labels: Sequence[int]) -> float:
    if not labels:
        return float("nan")
    pred = clf.predict_proba(texts).argmax(-1)
    return float((pred == torch.tensor(list(labels))).float().mean())


def classification_report(clf: TextClassifier, texts: Sequence[str], labels: Sequence[int]) -> dict:
    """Accuracy, macro precision/recall/F1, per-class figures and the confusion matrix (scikit-learn)."""
    from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

    pred = clf.predict_proba(texts).argmax(-1).tolist()
    classes = list(range(clf.num_classes))
    p, r, f, support = precision_recall_fscore_support(labels, pred, labels=classes, zero_division=0)
    mp, mr, mf, _ = precision_recall_fscore_support(labels, pred, labels=classes, average="macro", zero_division=0)
    return {
        "n": len(labels),
        "accuracy": float(accuracy_score(labels, pred)),
        "precision": float(mp), "recall": float(mr), "f1": float(mf),
        "per_class": [{"class": c, "precision": float(p[c]), "recall": float(r[c]), "f1": float(f[c]),
                       "support": int(support[c])} for c in classes],
        "confusion_matrix": confusion_matrix(labels, pred, labels=classes).tolist(),
    }
