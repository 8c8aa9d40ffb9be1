"""JSMA, the Jacobian-based saliency map attack (Papernot et al. 2016, The limitations of deep
learning in adversarial settings), batched over samples.

Each iteration takes the forward derivative from the engine: for every row, the gradients of the
target's output (``alpha``) and of the sum of the other classes' outputs (``beta``), two backward
passes for the whole batch. The outputs are the softmax probabilities (``saliency="probs"``, the
default: the paper's JSMA-F, where ``beta = -alpha`` since the probabilities sum to 1) or the logits
(``"logits"``, as torchattacks takes them). The pair search scores feature pairs (p, q) of
every row at once on the device: ``(a_p + a_q) * |b_p + b_q|`` where the signs fit the variant
(increasing: alpha > 0 > beta; decreasing: alpha < 0 < beta), written as a product of two clamps so
that pairs of the wrong signs score 0; features out of the search domain are masked by infinities.
An exact bound prunes the n^2 pairs to a small prefix of candidate features (see ``best_pairs``).
Rows leave the working batch as soon as they reach the target, run out of distortion budget
(``gamma``) or have no admissible pair.
"""

from __future__ import annotations

import math

import torch

from advtext.engine import jacobian
from advtext.errors import AdvtextError
from advtext.image.fgsm import ModelFn

SALIENCY = ("logits", "probs")


def check_jsma_args(theta: float, gamma: float, saturation: float = 0.0, saliency: str = "probs") -> None:
    """theta: signed change per feature in units of the box, nonzero, |theta| <= 1; gamma in (0, 1];
    saturation in [0, 1); saliency one of ``SALIENCY``.
    """
    if not 0 < gamma <= 1:
        raise AdvtextError(f"gamma = {gamma} is outside (0, 1]: it is the largest fraction of features "
                           "JSMA may change (the paper uses 0.145)")
    if theta == 0 or abs(theta) > 1:
        raise AdvtextError(f"theta = {theta} must be nonzero with |theta| <= 1 (+1: increasing, -1: decreasing)")
    if not 0 <= saturation < 1:
        raise AdvtextError(f"saturation = {saturation} is outside [0, 1): it is the fraction of the box next to "
                           "the edge that leaves the search domain (0 is the paper's rule)")
    if saliency not in SALIENCY:
        raise AdvtextError(f"unknown saliency {saliency!r}: use logits or probs (the paper's JSMA-F)")


def _dense_pairs(a: torch.Tensor, b: torch.Tensor, budget: int = 1 << 24) -> tuple[torch.Tensor, torch.Tensor]:
    """Best score and flat pair index of each row of ``a``/``b`` (B, k) (increasing signs), from the
    (rows, k, k) table of pair scores, cut into row chunks of at most ``budget`` entries.
    """
    step = max(1, budget // a.shape[1] ** 2)
    best, index = [], []
    for start in range(0, a.shape[0], step):
        ai, bi = a[start : start + step], b[start : start + step]
        score = (ai[:, :, None] + ai[:, None, :]).clamp_(min=0)
        score.mul_((bi[:, :, None] + bi[:, None, :]).neg_().clamp_(min=0))
        score.diagonal(dim1=1, dim2=2).zero_()
        value, flat = score.flatten(1).max(1)
        best.append(value)
        index.append(flat)
    return torch.cat(best), torch.cat(index)


def best_pairs(alpha: torch.Tensor, beta: torch.Tensor, domain: torch.Tensor, increase: bool,
               first_k: int = 64) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The most salient admissible feature pair of each row: ``(p, q, valid)``, each of shape (B,).

    ``alpha``/``beta`` (B, n) are the target's and the other classes' gradients; ``domain`` (B, n)
    marks the features that may still change. ``valid`` is False where no pair has the right signs.

    Exact, without the full (B, n, n) table: a pair's score is at most ``bound_p`` (feature p paired
    with the row's largest alpha and smallest beta), and at most ``bound_q``. The pairs among the
    ``first_k`` features of highest bound give each row a score ``L``; only features with
    ``bound >= L`` can be in a better pair, and they are a prefix of the bound order. Rows whose
    prefix is longer are searched again over a prefix up to four times longer (a better ``L``
    shortens the prefix), until the searched prefix covers every candidate.
    """
    sign = 1.0 if increase else -1.0
    a = (sign * alpha).masked_fill(~domain, -math.inf)  # from here on, the increasing variant's signs
    b = (sign * beta).masked_fill(~domain, math.inf)
    bound = (a + a.amax(1, keepdim=True)).clamp(min=0) * (b + b.amin(1, keepdim=True)).neg().clamp(min=0)
    n = a.shape[1]
    p, q = torch.zeros(len(a), dtype=torch.long, device=a.device), torch.zeros_like(bound[:, 0], dtype=torch.long)
    value = torch.zeros_like(bound[:, 0])
    rows, k = torch.arange(len(a), device=a.device), min(first_k, n)
    while rows.numel():
        order = bound[rows].topk(k, dim=1).indices
        value[rows], flat = _dense_pairs(a[rows].gather(1, order), b[rows].gather(1, order))
        p[rows] = order.gather(1, (flat // k)[:, None]).squeeze(1)
        q[rows] = order.gather(1, (flat % k)[:, None]).squeeze(1)
        needed = ((bound[rows] >= value[rows, None]) & (bound[rows] > 0)).sum(1)
        rows, needed = rows[needed > k], needed[needed > k]
        k = min(int(needed.max()), 4 * k) if needed.numel() else k
    return p, q, value > 0


def forward_derivative(model_fn: ModelFn, x: torch.Tensor, target: torch.Tensor, saliency: str = "logits",
                       chunk_size: int | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(logits (B, C), alpha, beta)`` for the batch ``x``: ``alpha`` and ``beta`` (shaped like ``x``) are
    the input gradients of the target's output and of the other classes' outputs summed, the outputs
    being the logits or (``saliency="probs"``) the softmax probabilities.
    """

    def outputs(xi: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        logits = model_fn(xi)
        out = logits.softmax(1) if saliency == "probs" else logits
        out_target = out.gather(1, t[:, None])
        return torch.cat([out_target, out.sum(1, keepdim=True) - out_target, logits], dim=1)

    values, jac = jacobian(outputs, x, target, outputs=[0, 1], chunk_size=chunk_size)
    return values[:, 2:], jac[:, 0], jac[:, 1]


def jsma(model_fn: ModelFn, x: torch.Tensor, target: torch.Tensor, theta: float = 1.0, gamma: float = 0.145,
         clip_min: float = 0.0, clip_max: float = 1.0, saturation: float = 0.0, saliency: str = "probs",
         chunk_size: int | None = None) -> torch.Tensor:
    """Targeted JSMA on a batch: ``x`` (B, ...) pushed toward ``target`` (B,); returns the adversarials.

    ``theta > 0`` is the increasing variant (features raised by ``theta * (clip_max - clip_min)``),
    ``theta < 0`` the decreasing one. At most ``floor(gamma * n)`` features of a row change (two per
    iteration). A feature leaves the search domain once it is within ``saturation`` (a fraction of
    the box) of the edge it moves toward. The default is the paper's rule, ``saturation=0`` (only a
    feature at the edge leaves); torchattacks uses 0.01, since MNIST strokes hold many pixels at 253/255
    or 254/255. ``saliency`` picks the outputs differentiated (see the module docstring); the defaults
    (the paper's JSMA-F) reached more targets with fewer pixels than torchattacks' settings on MNIST.
    """
    check_jsma_args(theta, gamma, saturation, saliency)
    shape, increase = x.shape, theta > 0
    x0 = x.detach().flatten(1)
    x_adv = x0.clone()
    target = target.to(x.device)
    edge, margin = (clip_max if increase else clip_min), saturation * (clip_max - clip_min)

    def movable(values: torch.Tensor) -> torch.Tensor:
        return (edge - values).abs() > margin

    domain = movable(x_adv)
    budget = math.floor(gamma * x0.shape[1])
    active = torch.ones(len(x0), dtype=torch.bool, device=x.device)
    step = theta * (clip_max - clip_min)

    while True:
        changed = (x_adv != x0).sum(1)
        active &= (changed + 2 <= budget) & (domain.sum(1) >= 2)
        rows = active.nonzero().squeeze(1)
        if rows.numel() == 0:
            return x_adv.view(shape)
        logits, alpha, beta = forward_derivative(model_fn, x_adv[rows].view(-1, *shape[1:]), target[rows], saliency,
                                                 chunk_size)
        pending = logits.argmax(1) != target[rows]
        active[rows[~pending]] = False
        rows, alpha, beta = rows[pending], alpha[pending].flatten(1), beta[pending].flatten(1)
        p, q, valid = best_pairs(alpha, beta, domain[rows], increase)
        active[rows[~valid]] = False
        rows, p, q = rows[valid], p[valid], q[valid]
        for feature in (p, q):
            value = (x_adv[rows, feature] + step).clamp(clip_min, clip_max)
            x_adv[rows, feature] = value
            domain[rows, feature] = movable(value)


def all_other_targets(y: torch.Tensor, num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The paper's source-target grid: ``(row index, target)`` for every sample and every class but its own."""
    classes = torch.arange(num_classes, device=y.device)
    keep = classes[None, :] != y[:, None]
    rows = torch.arange(len(y), device=y.device)[:, None].expand(-1, num_classes)
    return rows[keep], classes[None, :].expand(len(y), -1)[keep]
