"""The robustness metric of Papernot et al. 2016 (Distillation as a defense): the mean minimal
perturbation that changes the class, per sample

* for FGSM, the smallest L-infinity epsilon that misclassifies, found by bisection (the gradient
  sign is computed once; each bisection step is one forward pass for the whole batch);
* for JSMA, the smallest fraction of features changed over the runs toward every other class;
* for C&W (L2, on the logits), the L2 size of the smallest adversarial its constant search finds: the
  measure that a distilled network's saturated softmax cannot inflate.

Samples that no perturbation within the attack's limits moves are reported apart (not averaged).
"""

from __future__ import annotations

import math

import torch

from advtext.engine import evaluate
from advtext.image.cw import carlini_wagner_l2
from advtext.image.fgsm import ModelFn, loss_gradient
from advtext.image.jsma import all_other_targets, jsma


def fgsm_minimal_eps(model_fn: ModelFn, x: torch.Tensor, y: torch.Tensor, steps: int = 12,
                     chunk_size: int | None = None) -> torch.Tensor:
    """Per row, the smallest eps in (0, 1] with ``f(clip(x + eps * sign(grad))) != y`` to within
    ``2**-steps``; NaN where even eps = 1 leaves the class unchanged.
    """
    sign = loss_gradient(model_fn, x, y, False, chunk_size).sign()
    view = (-1, *([1] * (x.dim() - 1)))

    def fooled(eps: torch.Tensor) -> torch.Tensor:
        adv = (x + eps.view(view) * sign).clamp(0, 1)
        return evaluate(model_fn, adv, chunk_size=chunk_size).argmax(1) != y

    low, high = torch.zeros(len(x), device=x.device), torch.ones(len(x), device=x.device)
    found = fooled(high)
    for _ in range(steps):
        mid = (low + high) / 2
        hit = fooled(mid)
        high, low = torch.where(hit, mid, high), torch.where(hit, low, mid)
    return torch.where(found, high, torch.full_like(high, math.nan))


def jsma_minimal_l0(model_fn: ModelFn, x: torch.Tensor, y: torch.Tensor, num_classes: int, theta: float = 1.0,
                    gamma: float = 0.145, chunk_size: int | None = None) -> torch.Tensor:
    """Per row, the smallest fraction of features JSMA changes to reach some other class (over all
    targets, batched as one grid); NaN where no target is reached within ``gamma``.
    """
    rows, targets = all_other_targets(y, num_classes)
    adv = jsma(model_fn, x[rows], targets, theta, gamma, chunk_size=chunk_size)
    success = evaluate(model_fn, adv, chunk_size=chunk_size).argmax(1) == targets
    fraction = (adv != x[rows]).flatten(1).float().mean(1)
    fraction = torch.where(success, fraction, torch.full_like(fraction, math.inf))
    best = torch.full((len(x),), math.inf, device=x.device).scatter_reduce(0, rows, fraction, "amin")
    return torch.where(torch.isinf(best), torch.full_like(best, math.nan), best)


def cw_minimal_l2(model_fn: ModelFn, x: torch.Tensor, y: torch.Tensor, steps: int = 300, search_steps: int = 6,
                  chunk_size: int | None = None) -> torch.Tensor:
    """Per row, the L2 size of the smallest untargeted C&W adversarial found (on the logits, so a softmax that
    distillation saturated does not hide it); NaN where none was."""
    adv = carlini_wagner_l2(model_fn, x, y, steps=steps, search_steps=search_steps, chunk_size=chunk_size)
    fooled = evaluate(model_fn, adv, chunk_size=chunk_size).argmax(1) != y
    size = (adv - x).flatten(1).norm(dim=1)
    return torch.where(fooled, size, torch.full_like(size, float("nan")))


def summarize(values: torch.Tensor) -> dict:
    """Mean minimal perturbation over the samples where one was found (None where none was), and how many
    those were."""
    found = ~torch.isnan(values)
    return {"n": len(values), "found": int(found.sum()),
            "mean": float(values[found].mean()) if found.any() else None,
            "median": float(values[found].median()) if found.any() else None}
