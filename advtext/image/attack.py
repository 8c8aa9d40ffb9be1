"""One attack run on a batch of images: dispatch to the method, then per-sample records and a summary.

Records (one per sample, epsilon and target) follow the text attacks' schema (status, predictions and
probabilities before and after, seconds; schema/attack-record.schema.json) and add the target, epsilon
and the L0 fraction / L2 / L-infinity size of the perturbation; the summary aggregates them per epsilon.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch

from advtext.distributed import gather_objects, world
from advtext.engine import attack_mode, evaluate, gradient
from advtext.errors import AdvtextError
from advtext.goals import FAILED, SKIPPED, SUCCEEDED
from advtext.image.fgsm import check_eps
from advtext.progress import progress_bar

METHODS = ("fgsm", "bim", "pgd", "jsma", "lbfgs", "cw")


PROGRESS_STEP = 500  # images crafted between two updates of the progress bar


@dataclass
class AttackSettings:
    """The knobs of every method; each method reads the ones it needs."""

    method: str = "fgsm"
    epsilons: tuple[float, ...] = (0.25,)
    norm: float = math.inf
    steps: int = 10
    step_size: float | None = None
    theta: float = 1.0
    gamma: float = 0.145
    saturation: float = 0.0
    saliency: str = "probs"
    lbfgs_steps: int = 5
    cw_c: float = 1e-2
    cw_kappa: float = 0.0
    cw_steps: int = 300
    cw_lr: float = 0.01
    cw_search_steps: int = 6
    seed: int = 0
    chunk_size: int | None = 1000


def craft(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None, eps: float,
          s: AttackSettings, keys: list[int]) -> torch.Tensor:
    """Adversarials of ``x`` by ``s.method``; ``target`` (per row) makes the attack targeted; ``keys`` (the
    images' indices) seed PGD's random starts row by row."""
    from advtext.image.cw import carlini_wagner_l2
    from advtext.image.fgsm import (
        basic_iterative_method,
        fast_gradient_method,
        projected_gradient_descent,
        row_random_starts,
    )
    from advtext.image.jsma import jsma
    from advtext.image.lbfgs import lbfgs_attack, second_best_class

    targeted = target is not None
    labels = target if targeted else y
    step = s.step_size if s.step_size is not None else max(eps / 4, eps * 2.5 / s.steps)
    with attack_mode(model) as m:
        if s.method == "fgsm":
            return fast_gradient_method(m, x, eps, s.norm, labels, targeted, chunk_size=s.chunk_size)
        if s.method == "bim":
            return basic_iterative_method(m, x, eps, step, s.steps, s.norm, labels, targeted, chunk_size=s.chunk_size)
        if s.method == "pgd":
            return projected_gradient_descent(m, x, eps, step, s.steps, s.norm, labels, targeted,
                                              chunk_size=s.chunk_size,
                                              start=row_random_starts(x, eps, s.norm, keys, s.seed))
        if s.method == "jsma":
            if not targeted:
                raise AdvtextError("JSMA is a targeted attack: pass --goal targeted:T or --all-targets")
            return jsma(m, x, target, s.theta, s.gamma, saturation=s.saturation, saliency=s.saliency,
                        chunk_size=s.chunk_size)
        if s.method == "lbfgs":
            goal = target if targeted else second_best_class(m, x, s.chunk_size)
            return lbfgs_attack(m, x, goal, search_steps=s.lbfgs_steps, chunk_size=s.chunk_size)
        if s.method == "cw":
            return carlini_wagner_l2(m, x, labels, targeted, s.cw_c, s.cw_kappa, s.cw_steps, s.cw_lr,
                                     s.cw_search_steps, chunk_size=s.chunk_size)
    raise AdvtextError(f"unknown method {s.method!r}: use one of {', '.join(METHODS)}")


def run_attack(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, index: torch.Tensor,
               target: torch.Tensor | None, s: AttackSettings) -> tuple[list[dict], list[dict], dict]:
    """Attack every row at every epsilon (one epsilon for JSMA, L-BFGS and C&W, which do not use one).

    Returns ``(records, summaries, examples)``; ``examples`` holds the originals, adversarials and
    predictions of the last epsilon, for the example grid.
    """
    if s.method in ("fgsm", "bim", "pgd"):
        check_eps(s.epsilons, norm=s.norm)
    epsilons = s.epsilons if s.method in ("fgsm", "bim", "pgd") else (math.nan,)
    records, summaries, examples = [], [], {}
    w = world()  # under torchrun rank r crafts the pieces r, r + N, ...; every rank then holds them all
    size = PROGRESS_STEP if x.device.type == "cpu" else max(-(-len(x) // w.size), 1)  # a GPU takes all at once
    plan = [range(first, min(first + size, len(x))) for first in range(0, len(x), size)]
    pieces = [plan[p] for p in w.shard(len(plan))]
    keys = index.tolist()
    if pieces:
        _warm_up(model, x[:1])
    with progress_bar(sum(map(len, pieces)) * len(epsilons), f"{s.method}") as bar:
        for eps in epsilons:
            start = time.perf_counter()
            crafted = []
            for piece in pieces:
                part = slice(piece.start, piece.stop)
                adv = craft(model, x[part], y[part], None if target is None else target[part], eps, s, keys[part])
                crafted.append((piece.start, adv.cpu() if w.distributed else adv))
                bar.advance(len(piece))
            adv = x.clone()
            for first, rows in (sum(gather_objects(crafted), []) if w.distributed else crafted):
                adv[first : first + len(rows)] = rows.to(x.device)
            seconds = time.perf_counter() - start
            rows, summary, examples = _account(model, x, y, index, target, s, eps, adv, seconds)
            records += rows
            summaries.append(summary)
    return records, summaries, examples


def _warm_up(model: torch.nn.Module, image: torch.Tensor) -> None:
    """One input gradient of one image before anything is timed: most of a device's one-time start-up (a GPU's
    cuDNN and cuBLAS set-up, kernel loading) then counts in no record's seconds, as loading the model does not."""
    with attack_mode(model) as m:
        gradient(lambda v: m(v).sum(1), image)


def _account(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, index: torch.Tensor,
             target: torch.Tensor | None, s: AttackSettings, eps: float, adv: torch.Tensor,
             seconds: float) -> tuple[list[dict], dict, dict]:
    """Records (the text attacks' schema: status, label, predictions and probabilities before and after,
    seconds; plus target, eps and the perturbation's sizes), summary and example batch of one epsilon."""
    before = torch.softmax(evaluate(model, x, chunk_size=s.chunk_size).float(), -1)
    after = torch.softmax(evaluate(model, adv, chunk_size=s.chunk_size).float(), -1)
    pred0, pred = before.argmax(1), after.argmax(1)
    reached = (lambda p: p == target) if target is not None else (lambda p: p != y)
    held, success = reached(pred0), reached(pred) & ~reached(pred0)
    delta = (adv - x).flatten(1)
    sizes = {"l0": (delta != 0).float().mean(1), "l2": delta.norm(dim=1), "linf": delta.abs().amax(1)}
    eps_value = None if math.isnan(eps) else eps
    status = [SKIPPED if h else SUCCEEDED if ok else FAILED for h, ok in zip(held.tolist(), success.tolist())]
    # every column read back from the device once, not one element at a time
    ids, labels, pred0_list, pred_list = (t.cpu().tolist() for t in (index, y, pred0, pred))
    targets = [None] * len(x) if target is None else target.cpu().tolist()
    before, after = before.cpu().tolist(), after.cpu().tolist()
    size_lists = {k: v.cpu().tolist() for k, v in sizes.items()}
    records = [{"id": ids[i], "label": labels[i], "target": targets[i], "eps": eps_value, "status": status[i],
                "pred_before": pred0_list[i], "probs_before": [round(p, 6) for p in before[i]],
                "pred_after": pred_list[i], "probs_after": [round(p, 6) for p in after[i]],
                "seconds": round(seconds / len(x), 6), **{k: round(v[i], 6) for k, v in size_lists.items()}}
               for i in range(len(x))]
    attacked = ~held
    summary = {"method": s.method, "eps": eps_value, "n": len(x), "skipped": int(held.sum()),
               "success_rate": float(success[attacked].float().mean()) if attacked.any() else None,
               "accuracy": float((pred == y).float().mean()),
               **{f"mean_{k}": float(v[success].mean()) if success.any() else None for k, v in sizes.items()},
               "seconds": round(seconds, 3), "samples_per_s": round(len(x) / max(seconds, 1e-9), 1)}
    return records, summary, {"x": x, "adv": adv, "y": y, "pred": pred, "eps": eps}
