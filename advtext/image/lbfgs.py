"""The box-constrained L-BFGS attack of Szegedy et al. 2013 (Intriguing properties of neural networks).

For each row, minimise ``||x' - x||_2^2 + c * CE(f(x'), target)`` over x' in the box with
``torch.optim.LBFGS``, and search the constant c per row (bisection, growing tenfold while no
success is known) for the smallest c that still reaches the target: the smaller c, the smaller the
perturbation. The box constraint is kept by optimising an unconstrained r with x' = clip(x + r): the
clip's zero gradient outside the box stops a pixel at the box's edge. (A tanh change of variables,
as in Carlini & Wagner, freezes the many MNIST pixels at exactly 0 or 1, where tanh is flat.)
Rows are independent terms of one summed objective; the gradients come from the shared engine.
"""

from __future__ import annotations

import torch

from advtext.engine import evaluate, gradient
from advtext.errors import AdvtextError
from advtext.image.fgsm import ModelFn


def second_best_class(model_fn: ModelFn, x: torch.Tensor, chunk_size: int | None = None) -> torch.Tensor:
    """The target an untargeted L-BFGS run aims at: each row's most likely class but the predicted one."""
    return evaluate(model_fn, x, chunk_size=chunk_size).topk(2, dim=1).indices[:, 1]


def lbfgs_attack(model_fn: ModelFn, x: torch.Tensor, target: torch.Tensor, c_init: float = 1.0,
                 search_steps: int = 6, max_iter: int = 40, clip_min: float = 0.0, clip_max: float = 1.0,
                 chunk_size: int | None = None) -> torch.Tensor:
    """Targeted L-BFGS: the smallest-L2 adversarial found for each row over the c search; rows never
    classified as ``target`` come back unchanged.
    """
    if c_init <= 0 or search_steps < 1 or max_iter < 1:
        raise AdvtextError("L-BFGS needs c_init > 0, search_steps >= 1 and max_iter >= 1")
    x = x.detach()
    target = target.to(x.device)
    c = torch.full((len(x),), float(c_init), dtype=x.dtype, device=x.device)
    low = torch.zeros_like(c)
    high = torch.full_like(c, float("inf"))
    best = x.clone()
    best_dist = torch.full_like(c, float("inf"))

    def objective(r: torch.Tensor, x0: torch.Tensor, t: torch.Tensor, ci: torch.Tensor) -> torch.Tensor:
        adv = (x0 + r).clamp(clip_min, clip_max)
        distance = (adv - x0).flatten(1).pow(2).sum(1)
        return distance + ci * torch.nn.functional.cross_entropy(model_fn(adv), t, reduction="none")

    for _ in range(search_steps):
        r = torch.zeros_like(x, requires_grad=True)
        optimizer = torch.optim.LBFGS([r], max_iter=max_iter, line_search_fn="strong_wolfe")

        def closure(r: torch.Tensor = r, c: torch.Tensor = c) -> torch.Tensor:
            values, grad = gradient(objective, r, x, target, c, chunk_size=chunk_size)
            r.grad = grad
            return values.sum()

        optimizer.step(closure)
        adv = (x + r.detach()).clamp(clip_min, clip_max)
        success = evaluate(model_fn, adv, chunk_size=chunk_size).argmax(1) == target
        dist = (adv - x).flatten(1).norm(dim=1)
        better = success & (dist < best_dist)
        best[better], best_dist[better] = adv[better], dist[better]
        high = torch.where(success, torch.minimum(high, c), high)
        low = torch.where(success, low, torch.maximum(low, c))
        c = torch.where(torch.isinf(high), c * 10, (low + high) / 2)
    return best
