"""The Carlini & Wagner L2 attack (Towards evaluating the robustness of neural networks, 2017), batched.

For each row, minimise ``||x' - x||_2^2 + c * f(x')`` over ``x' = (tanh(w) + 1) / 2`` (the box by a
change of variables) with Adam, where f works on the logits Z, not on the softmax:
``f = max(max_{i != t} Z_i - Z_t, -kappa)`` toward a target t, ``max(Z_y - max_{i != y} Z_i, -kappa)``
away from the label y. Logits are what defensive distillation cannot hide: it saturates the softmax at
T = 1, which starves softmax- and loss-gradient attacks, and leaves the logits' ordering as it was.

The constant c is searched per row (bisection, growing tenfold while no success is known), every row
of a chunk at once; each row keeps its smallest-L2 success. Adam's updates are per element, so the rows
of a batch never interact: a row's result does not depend on the rows beside it.
"""

from __future__ import annotations

import torch

from advtext.engine import row_chunks
from advtext.errors import AdvtextError
from advtext.goals import logit_margin
from advtext.image.fgsm import ModelFn


def carlini_wagner_l2(model_fn: ModelFn, x: torch.Tensor, label: torch.Tensor, targeted: bool = False,
                      c_init: float = 1e-2, kappa: float = 0.0, steps: int = 300, lr: float = 0.01,
                      search_steps: int = 6, clip_min: float = 0.0, clip_max: float = 1.0,
                      chunk_size: int | None = None) -> torch.Tensor:
    """C&W L2 toward ``label`` (``targeted``) or away from it: the smallest-L2 adversarial found for each row
    (rows never fooled come back unchanged). ``search_steps=1`` runs the one constant ``c_init`` (as
    torchattacks' CW does)."""
    if c_init <= 0 or kappa < 0 or steps < 1 or search_steps < 1 or lr <= 0:
        raise AdvtextError("C&W needs c > 0, kappa >= 0, steps >= 1, search steps >= 1 and lr > 0")
    x, label = x.detach(), label.to(x.device)
    out = x.clone()
    for part in row_chunks(len(x), chunk_size):
        out[part] = _attack_chunk(model_fn, x[part], label[part], targeted, c_init, kappa, steps, lr, search_steps,
                                  clip_min, clip_max)
    return out


def _attack_chunk(model_fn, x, label, targeted, c_init, kappa, steps, lr, search_steps, clip_min, clip_max):
    scale, shift = (clip_max - clip_min) / 2, (clip_max + clip_min) / 2
    w0 = torch.atanh(((x - shift) / scale).clamp(-1 + 1e-6, 1 - 1e-6))
    c = torch.full((len(x),), float(c_init), dtype=x.dtype, device=x.device)
    low, high = torch.zeros_like(c), torch.full_like(c, float("inf"))
    best, best_dist = x.clone(), torch.full_like(c, float("inf"))
    for _ in range(search_steps):
        w = w0.clone().requires_grad_(True)
        optimizer = torch.optim.Adam([w], lr=lr)
        found = torch.zeros_like(c, dtype=torch.bool)
        for _ in range(steps):
            with torch.enable_grad():
                adv = torch.tanh(w) * scale + shift
                dist = (adv - x).flatten(1).pow(2).sum(1)
                logits = model_fn(adv)
                # how far from the goal (negative once it is reached, by that margin)
                gap = -logit_margin(logits, label) if targeted else logit_margin(logits, label)
                loss = (dist + c * gap.clamp(min=-kappa)).sum()
                optimizer.zero_grad()
                loss.backward()
            with torch.no_grad():
                pred = logits.argmax(1)
                # a success: the goal reached with the margin asked for (kappa)
                fooled = ((pred == label) if targeted else (pred != label)) & (gap <= -kappa)
                better = fooled & (dist.sqrt() < best_dist)
                best[better], best_dist[better] = adv.detach()[better], dist.sqrt()[better]
                found |= fooled
            optimizer.step()
        high = torch.where(found, torch.minimum(high, c), high)
        low = torch.where(found, low, torch.maximum(low, c))
        c = torch.where(torch.isinf(high), c * 10, (low + high) / 2)
    return best
