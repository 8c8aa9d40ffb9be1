"""The box-constrained L-BFGS attack of Szegedy et al. 2013 (Intriguing properties of neural networks).

For each row, minimise ``||x' - x||_2^2 + c * CE(f(x'), target)`` over x' in the box by L-BFGS, and
search the constant c per row (bisection, growing tenfold while no success is known) for the smallest
c that still reaches the target: the smaller c, the smaller the perturbation. The box constraint is
kept by optimising an unconstrained r with x' = clip(x + r): the clip's zero gradient outside the box
stops a pixel at the box's edge. (A tanh change of variables, as in Carlini & Wagner, freezes the many
MNIST pixels at exactly 0 or 1, where tanh is flat.)

The minimiser (``minimize_rows``) is a batched L-BFGS in which every row is its own problem: its own
curvature history, line search and stopping tests, so a row's result does not depend on the rows
beside it. The line search is the weak-Wolfe bracketing search of Lewis & Overton (2013), which
suits the kinks the clip puts in the objective. Values and gradients come from the shared engine.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from advtext.engine import Objective, evaluate, gradient
from advtext.errors import AdvtextError
from advtext.image.fgsm import ModelFn

Rows = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def second_best_class(model_fn: ModelFn, x: torch.Tensor, chunk_size: int | None = None) -> torch.Tensor:
    """The target an untargeted L-BFGS run aims at: each row's most likely class but the predicted one."""
    return evaluate(model_fn, x, chunk_size=chunk_size).topk(2, dim=1).indices[:, 1]


def _direction(g: torch.Tensor, s: torch.Tensor, y: torch.Tensor, rho: torch.Tensor,
               scale: torch.Tensor) -> torch.Tensor:
    """The L-BFGS direction ``-H g`` of every row by the two-loop recursion; ``s``/``y`` (B, m, n) hold
    each row's pairs oldest first, and empty slots (zeros, ``rho`` 0) leave the recursion unchanged.
    """
    q, alphas = g.clone(), []
    for i in reversed(range(s.shape[1])):
        alpha = rho[:, i] * (s[:, i] * q).sum(1)
        q -= alpha[:, None] * y[:, i]
        alphas.append(alpha)
    q *= scale[:, None]
    for i, alpha in zip(range(s.shape[1]), reversed(alphas)):
        q += (alpha - rho[:, i] * (y[:, i] * q).sum(1))[:, None] * s[:, i]
    return -q


def _weak_wolfe(rows_fn: Rows, x: torch.Tensor, f: torch.Tensor, g: torch.Tensor, d: torch.Tensor,
                slope: torch.Tensor, max_evals: int, c1: float = 1e-4, c2: float = 0.9) -> tuple[torch.Tensor, ...]:
    """Per-row bracketing search for a step t with ``f(x + t d) <= f + c1 t slope`` (Armijo) and
    ``g(x + t d) . d >= c2 slope`` (weak Wolfe): bisect a bracket, doubling while it has no upper end.

    Returns ``(t, f, g)`` at the last Armijo step found (t = 0 and the start's f and g where none was).
    """
    lo, hi, t = torch.zeros_like(f), torch.full_like(f, torch.inf), torch.ones_like(f)
    f_lo, g_lo = f.clone(), g.clone()
    searching = torch.arange(len(x), device=x.device)
    for _ in range(max_evals):
        if searching.numel() == 0:
            break
        ts = t[searching]
        fs, gs = rows_fn(x[searching] + ts[:, None] * d[searching], searching)
        armijo = fs <= f[searching] + c1 * ts * slope[searching]
        wolfe = (gs * d[searching]).sum(1) >= c2 * slope[searching]
        lo[searching] = torch.where(armijo, ts, lo[searching])
        hi[searching] = torch.where(armijo, hi[searching], ts)
        f_lo[searching] = torch.where(armijo, fs, f_lo[searching])
        g_lo[searching] = torch.where(armijo[:, None], gs, g_lo[searching])
        searching = searching[~(armijo & wolfe)]
        lo_s, hi_s = lo[searching], hi[searching]
        t[searching] = torch.where(torch.isinf(hi_s), 2 * lo_s, (lo_s + hi_s) / 2)
    return lo, f_lo, g_lo


def minimize_rows(objective: Objective, r: torch.Tensor, *extra: torch.Tensor, max_iter: int = 40,
                  memory: int = 10, max_evals: int = 10, tolerance_grad: float = 1e-7,
                  tolerance_change: float = 1e-9, chunk_size: int | None = None) -> torch.Tensor:
    """Minimise each row's ``objective(r, *extra) -> (B,)`` from ``r`` on its own by L-BFGS.

    Each row keeps its last ``memory`` curvature pairs (skipping pairs with ``s . y <= 1e-10``) and
    stops when its largest gradient entry is at most ``tolerance_grad``, when a step changes its value
    or its point by at most ``tolerance_change``, when no step passes the line search (``max_evals``
    evaluations), or after ``max_iter`` iterations; stopped rows leave the working batch.
    """
    shape = r.shape[1:]
    result = r.detach().flatten(1).clone()
    index = torch.arange(len(r), device=r.device)  # the working rows' places in ``result``
    args = extra

    def rows_fn(points: torch.Tensor, sel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        values, grads = gradient(objective, points.view(-1, *shape), *(a[sel] for a in args), chunk_size=chunk_size)
        return values, grads.flatten(1)

    x = result.clone()
    f, g = rows_fn(x, index)
    s_hist, y_hist = x.new_zeros(len(x), memory, x.shape[1]), x.new_zeros(len(x), memory, x.shape[1])
    rho = x.new_zeros(len(x), memory)
    scale = (1 / g.abs().sum(1)).clamp(max=1)  # the first step's length, as torch.optim.LBFGS takes it
    going = g.abs().amax(1) > tolerance_grad
    for _ in range(max_iter):
        if not going.all():
            index, x, f, g, s_hist, y_hist, rho, scale = (v[going] for v in
                                                          (index, x, f, g, s_hist, y_hist, rho, scale))
            args = tuple(a[going] for a in args)
        if index.numel() == 0:
            break
        d = _direction(g, s_hist, y_hist, rho, scale)
        d = torch.where(((g * d).sum(1) < 0)[:, None], d, -g)  # steepest descent should rounding spoil H
        slope = (g * d).sum(1)
        t, f_new, g_new = _weak_wolfe(rows_fn, x, f, g, d, slope, max_evals)
        moved = t > 0
        step, change = t[:, None] * d, g_new - g
        sy = (change * step).sum(1)
        fresh = moved & (sy > 1e-10)
        s_hist[fresh] = torch.cat([s_hist[fresh, 1:], step[fresh, None]], 1)
        y_hist[fresh] = torch.cat([y_hist[fresh, 1:], change[fresh, None]], 1)
        rho[fresh] = torch.cat([rho[fresh, 1:], (1 / sy[fresh])[:, None]], 1)
        scale = torch.where(fresh, sy / change.pow(2).sum(1).clamp(min=1e-30), scale)
        going = (moved & ((f_new - f).abs() > tolerance_change) & (step.abs().amax(1) > tolerance_change)
                 & (g_new.abs().amax(1) > tolerance_grad))
        x, f, g = x + step, f_new, g_new
        result[index] = x
    return result.view_as(r)


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
        r = minimize_rows(objective, torch.zeros_like(x), x, target, c, max_iter=max_iter, chunk_size=chunk_size)
        adv = (x + r).clamp(clip_min, clip_max)
        success = evaluate(model_fn, adv, chunk_size=chunk_size).argmax(1) == target
        dist = (adv - x).flatten(1).norm(dim=1)
        better = success & (dist < best_dist)
        best[better], best_dist[better] = adv[better], dist[better]
        high = torch.where(success, torch.minimum(high, c), high)
        low = torch.where(success, low, torch.maximum(low, c))
        c = torch.where(torch.isinf(high), c * 10, (low + high) / 2)
    return best
