"""The training loop shared by text and image classifiers: one optimisation pass over batches,
validation every epoch, early stopping on validation accuracy, seeds, and the final report.

A classifier here is anything with ``model``, ``num_classes`` and ``predict_proba(inputs)``.
"""

from __future__ import annotations

import copy
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

from advtext.checkpoint import read_progress, write_progress
from advtext.distributed import all_sum, barrier, broadcast_object, gather_objects, world
from advtext.errors import AdvtextError
from advtext.progress import progress_bar

Batch = tuple[torch.Tensor, torch.Tensor]
# computes one batch's loss, backpropagates it into the parameters' .grad, and returns the batch's
# figures ("loss" at least; adversarial training adds its own, averaged per epoch into the history)
TrainStep = Callable[[nn.Module, torch.Tensor, torch.Tensor], dict[str, float]]


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


def cross_entropy_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    """Plain training: cross-entropy of the batch, backpropagated."""
    loss = nn.functional.cross_entropy(model(x), y)
    loss.backward()
    return {"loss": loss.item()}


def train_epoch(model: nn.Module, batches: Iterable[Batch], total: int, settings: TrainSettings,
                optimizer: torch.optim.Optimizer, description: str, step: TrainStep | None = None) -> dict[str, float]:
    """One pass over ``batches`` of (inputs, labels); returns the epoch's mean figures (``loss`` first).

    ``step(model, x, y)`` replaces the plain cross-entropy step (adversarial training uses it). Under torchrun
    every rank sees the same batches, steps on its interleaved share of each, and the ranks' gradients are
    averaged, weighted by rows, before the optimiser's step: the gradient of the whole batch, as one process
    computes it (faster where a step is large enough to outweigh the exchange).
    """
    step = step or cross_entropy_step
    w = world()
    model.train()
    sums: dict[str, float] = {}
    seen = 0
    with progress_bar(total, description) as bar:
        for x, y in batches:
            optimizer.zero_grad(set_to_none=True)
            share = slice(w.rank, None, w.size)
            x_share, y_share = (x[share], y[share]) if w.distributed else (x, y)
            figures = step(model, x_share, y_share) if len(y_share) else {}
            if w.distributed:
                average_gradients(model, len(y_share) / len(y))
            nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
            optimizer.step()
            for k, v in figures.items():
                sums[k] = sums.get(k, 0.0) + v * len(y_share)
            seen += len(y_share)
            bar.advance(len(y), loss=sums.get("loss", 0.0) / max(seen, 1))
    names = sorted(sums)
    totals = all_sum([seen, *(sums[k] for k in names)])  # every rank's rows
    return {k: v / max(totals[0], 1) for k, v in zip(names, totals[1:])}


def average_gradients(model: nn.Module, weight: float) -> None:
    """Replace each parameter's gradient by the sum over ranks of ``weight`` (this rank's share of the batch's
    rows) times its own: one all-reduce of every gradient at once. A rank without rows adds zeros."""
    params = [p for p in model.parameters() if p.requires_grad]
    flat = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).flatten() for p in params]) * weight
    dist.all_reduce(flat)
    for p, g in zip(params, flat.split([p.numel() for p in params])):
        p.grad = g.view_as(p).clone()


def share_weights(model: nn.Module) -> None:
    """Every rank starts from rank 0's weights (no-op in one process)."""
    if world().distributed:
        for t in model.state_dict().values():
            dist.broadcast(t, src=0)


def fit(model: nn.Module, epoch_batches: Callable[[], Iterable[Batch]], total: int,
        validate: Callable[[], float], settings: TrainSettings, log: Callable[[str], None] = print,
        step: TrainStep | None = None, progress_file: Path | None = None, identity: dict | None = None,
        epoch_start: Callable[[int], None] | None = None) -> list[dict]:
    """Train for ``settings.epochs`` with validation accuracy every epoch and early stopping.

    ``epoch_batches()`` yields one epoch's shuffled batches. The best epoch's weights are kept.
    With ``progress_file``, the state after every epoch is saved there, a run interrupted earlier
    continues from its last finished epoch (exactly as if never stopped; ``identity`` must match
    the interrupted run's), and the file is removed at the end. ``step`` replaces the plain
    cross-entropy step; ``epoch_start(epoch)`` runs before each epoch that is trained. Returns one
    dict per epoch: the step's mean figures (``train_loss`` and any others), validation accuracy, seconds.
    """
    w = world()
    device = next(model.parameters()).device
    share_weights(model)
    if w.distributed:  # dropout draws differ between ranks, as they differ between the rows of one process
        torch.manual_seed(settings.seed + 7919 * w.rank)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr)
    history, best, best_state, stale = [], -1.0, None, 0
    done = 0
    if progress_file is not None and progress_file.exists():
        saved = read_progress(progress_file)
        if saved["identity"] != identity:
            raise AdvtextError(f"{progress_file} was written by a training with other settings: rerun it with the "
                               "same options, or pass --overwrite to start again")
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        history, best, best_state, stale = saved["history"], saved["best"], saved["best_state"], saved["stale"]
        done = len(history)
        for _ in range(done):  # replay the finished epochs' shuffles so the next one is the same
            for _batch in epoch_batches():
                pass
        if len(saved["torch_rng"]) == w.size:  # each rank continues its own draws (another world size draws anew)
            torch.set_rng_state(saved["torch_rng"][w.rank])
            cuda_rngs = saved.get("cuda_rng") or []  # one per rank, each its GPU's (none on the CPU)
            if w.rank < len(cuda_rngs) and device.type == "cuda":  # a run resumed on the CPU draws anew there
                torch.cuda.set_rng_state(cuda_rngs[w.rank], device)
        log(f"resuming after epoch {done} from {progress_file}")
        if stale >= settings.patience:
            done = settings.epochs
    for epoch in range(done + 1, settings.epochs + 1):
        start = time.perf_counter()
        if epoch_start is not None:
            epoch_start(epoch)
        figures = train_epoch(model, epoch_batches(), total, settings, optimizer,
                              f"epoch {epoch}/{settings.epochs}", step)
        seconds = time.perf_counter() - start
        val_acc = broadcast_object(validate() if w.main else None)  # the ranks agree on early stopping
        loss = figures.pop("loss")
        history.append({"epoch": epoch, "train_loss": round(loss, 5), **{k: round(v, 5) for k, v in figures.items()},
                        "val_accuracy": round(val_acc, 5), "seconds": round(seconds, 2)})
        extra = "".join(f"  {k.replace('_', ' ')} {v:.4f}" for k, v in figures.items())
        if w.main:
            log(f"epoch {epoch}: train loss {loss:.4f}{extra}  validation accuracy {val_acc:.4f}  ({seconds:.1f}s)")
        if val_acc > best:
            best, best_state, stale = val_acc, copy.deepcopy(model.state_dict()), 0
        else:
            stale += 1
        # every rank's random states, its GPU's too: one exchange
        rng_states = gather_objects((torch.get_rng_state(),
                                     torch.cuda.get_rng_state(device) if device.type == "cuda" else None))
        if progress_file is not None and w.main:
            state = {"identity": identity, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                     "history": history, "best": best, "best_state": best_state, "stale": stale,
                     "torch_rng": [cpu for cpu, _ in rng_states], "cuda_rng": [gpu for _, gpu in rng_states]}
            write_progress(progress_file.with_suffix(".tmp"), state)
            progress_file.with_suffix(".tmp").replace(progress_file)
        barrier("rank 0 saved the epoch")
        if stale >= settings.patience:
            if w.main:
                log(f"early stop: validation accuracy has not improved for {stale} epoch(s)")
            break
    if progress_file is not None and w.main:
        progress_file.unlink(missing_ok=True)
    if best_state is not None:  # None only when validation gave no figure at all
        model.load_state_dict(best_state)
    model.eval()
    return history


def accuracy(clf, inputs, labels: Sequence[int]) -> float:
    if not len(labels):
        return float("nan")
    pred = clf.predict_proba(inputs).argmax(-1)
    return float((pred == torch.tensor(list(labels))).float().mean())


def classification_report(clf, inputs, labels: Sequence[int]) -> dict:
    """Accuracy, macro precision/recall/F1, per-class figures and the confusion matrix (scikit-learn)."""
    from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

    labels = list(labels)
    pred = clf.predict_proba(inputs).argmax(-1).tolist()
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
