"""The fast gradient family (Goodfellow et al. 2015; Kurakin et al. 2016; Madry et al. 2018).

Plain functions in the CleverHans-4 style: ``model_fn`` maps images to logits; ``y`` holds the true
labels (untargeted) or the target labels (``targeted=True``). The gradient comes from the shared
engine, one backward pass per batch chunk. ``norm`` is ``inf`` (sign of the gradient) or ``2``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

from advtext.engine import evaluate, gradient
from advtext.errors import AdvtextError

ModelFn = Callable[[torch.Tensor], torch.Tensor]
NORMS = (math.inf, 2)


def check_eps(eps: float | Sequence[float], name: str = "eps", norm: float = math.inf) -> None:
    """Epsilons are distances in the [0, 1] pixel box: at most 1 in L-infinity; any size in L2 (a whole
    image's L2 distance is often above 1)."""
    for e in [eps] if isinstance(eps, (int, float)) else eps:
        if norm == math.inf and not 0 <= e <= 1:
            raise AdvtextError(f"{name} = {e} is outside [0, 1]: pixels live in [0, 1], choose e.g. 0.1 or 0.25")
        if not (0 <= e < math.inf):
            raise AdvtextError(f"{name} = {e} must be a finite distance of at least 0, e.g. 2.0 in L2")


def _check_norm(norm: float) -> None:
    if norm not in NORMS:
        raise AdvtextError(f"norm {norm} is not supported: use inf or 2")


def loss_gradient(model_fn: ModelFn, x: torch.Tensor, y: torch.Tensor, targeted: bool = False,
                  chunk_size: int | None = None) -> torch.Tensor:
    """Input gradient of the quantity the attack increases: ``-log p_y`` (away from y) or ``log p_y``."""
    sign = 1.0 if targeted else -1.0

    def objective(xi: torch.Tensor, yi: torch.Tensor) -> torch.Tensor:
        return sign * torch.log_softmax(model_fn(xi), -1).gather(1, yi[:, None]).squeeze(1)

    return gradient(objective, x, y, chunk_size=chunk_size)[1]


def _step(grad: torch.Tensor, norm: float) -> torch.Tensor:
    """The unit step of the norm: sign for L-infinity, the L2-normalised gradient for L2."""
    if norm == math.inf:
        return grad.sign()
    flat = grad.flatten(1)
    return (flat / flat.norm(dim=1, keepdim=True).clamp(min=1e-12)).view_as(grad)


def _per_row(eps: float | torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """A scalar or (B,) epsilon broadcastable against ``x``."""
    return torch.as_tensor(eps, dtype=x.dtype, device=x.device).reshape(-1, *([1] * (x.dim() - 1)))


def project(delta: torch.Tensor, eps: float | torch.Tensor, norm: float) -> torch.Tensor:
    """Project perturbations onto the eps-ball of the norm, row by row."""
    eps = _per_row(eps, delta)
    if norm == math.inf:
        return torch.maximum(torch.minimum(delta, eps), -eps)
    norms = delta.flatten(1).norm(dim=1).view(-1, *([1] * (delta.dim() - 1)))
    return delta * torch.clamp(eps / norms.clamp(min=1e-12), max=1.0)


def random_start(x: torch.Tensor, eps: float, norm: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """A perturbation drawn uniformly from the eps-ball of the norm, one per row: uniform in the cube for
    L-infinity; for L2 a uniform direction (a normalised Gaussian) at radius eps * U^(1/d), d the row's size."""
    if norm == math.inf:
        return (torch.rand(x.shape, generator=generator, dtype=x.dtype) * 2 - 1).to(x.device) * eps
    direction = torch.randn(x.shape, generator=generator, dtype=x.dtype).flatten(1)
    direction = direction / direction.norm(dim=1, keepdim=True).clamp(min=1e-12)
    radius = eps * torch.rand(x.shape[0], 1, generator=generator, dtype=x.dtype) ** (1.0 / direction.shape[1])
    return (direction * radius).view_as(x).to(x.device)


def row_random_starts(x: torch.Tensor, eps: float, norm: float, keys: list[int], seed: int) -> torch.Tensor:
    """``random_start`` drawn for each row from its own generator, seeded by (``seed``, the row's key): a row's
    start depends on its image alone, not on which others share its batch or its rank under torchrun."""
    if not keys:
        return torch.zeros_like(x)
    row = torch.empty((1, *x.shape[1:]), dtype=x.dtype)  # drawn on the CPU, moved to the device in one copy
    return torch.cat([random_start(row, eps, norm, torch.Generator().manual_seed((seed * 1_000_003 + k) % (2**63)))
                      for k in keys]).to(x.device)


def fast_gradient_method(model_fn: ModelFn, x: torch.Tensor, eps: float | torch.Tensor, norm: float = math.inf,
                         y: torch.Tensor | None = None, targeted: bool = False, clip_min: float = 0.0,
                         clip_max: float = 1.0, chunk_size: int | None = None) -> torch.Tensor:
    """FGSM (``norm=inf``) / FGM (``norm=2``): one step of size ``eps`` (scalar or per row), then clipped.

    Without ``y`` the model's own predictions are used (avoids label leaking, Kurakin 2016).
    """
    _check_norm(norm)
    if not torch.is_tensor(eps):
        check_eps(eps, norm=norm)
    if y is None:
        y = evaluate(model_fn, x, chunk_size=chunk_size).argmax(-1)
    grad = loss_gradient(model_fn, x, y, targeted, chunk_size)
    return (x + _per_row(eps, x) * _step(grad, norm)).clamp(clip_min, clip_max)


def projected_gradient_descent(model_fn: ModelFn, x: torch.Tensor, eps: float, eps_iter: float, nb_iter: int,
                               norm: float = math.inf, y: torch.Tensor | None = None, targeted: bool = False,
                               rand_init: bool = True, clip_min: float = 0.0, clip_max: float = 1.0,
                               generator: torch.Generator | None = None,
                               chunk_size: int | None = None, start: torch.Tensor | None = None) -> torch.Tensor:
    """PGD (Madry 2018): optional uniform random start in the ball (drawn from ``generator``, or ``start`` as
    given), ``nb_iter`` steps of ``eps_iter``, each projected back onto the eps-ball and the [clip_min,
    clip_max] box.
    """
    _check_norm(norm)
    check_eps(eps, norm=norm)
    check_eps(eps_iter, "step size", norm)
    if nb_iter < 1:
        raise AdvtextError(f"nb_iter must be at least 1, got {nb_iter}")
    if y is None:
        y = evaluate(model_fn, x, chunk_size=chunk_size).argmax(-1)
    delta = (start.to(x.device) if start is not None else random_start(x, eps, norm, generator) if rand_init
             else torch.zeros_like(x))
    x_adv = (x + delta).clamp(clip_min, clip_max)
    for _ in range(nb_iter):
        grad = loss_gradient(model_fn, x_adv, y, targeted, chunk_size)
        x_adv = x_adv + eps_iter * _step(grad, norm)
        x_adv = (x + project(x_adv - x, eps, norm)).clamp(clip_min, clip_max)
    return x_adv


def basic_iterative_method(model_fn: ModelFn, x: torch.Tensor, eps: float, eps_iter: float, nb_iter: int,
                           norm: float = math.inf, y: torch.Tensor | None = None, targeted: bool = False,
                           clip_min: float = 0.0, clip_max: float = 1.0,
                           chunk_size: int | None = None) -> torch.Tensor:
    """BIM / iterative FGSM (Kurakin 2016): PGD started at ``x`` itself."""
    return projected_gradient_descent(model_fn, x, eps, eps_iter, nb_iter, norm, y, targeted, rand_init=False,
                                      clip_min=clip_min, clip_max=clip_max, chunk_size=chunk_size)


def fgsm_epsilon_curve(model_fn: ModelFn, x: torch.Tensor, y: torch.Tensor, epsilons: Sequence[float],
                       norm: float = math.inf, chunk_size: int | None = None) -> list[dict]:
    """Accuracy under untargeted FG(S)M for every epsilon, from one gradient computation.

    The FGSM direction does not depend on eps, so the many-epsilon curve costs one backward pass and
    one forward pass per epsilon.
    """
    _check_norm(norm)
    check_eps(epsilons, norm=norm)
    step = _step(loss_gradient(model_fn, x, y, False, chunk_size), norm)
    curve = []
    for eps in epsilons:
        pred = evaluate(model_fn, (x + eps * step).clamp(0, 1), chunk_size=chunk_size).argmax(-1)
        curve.append({"eps": float(eps), "accuracy": float((pred == y).float().mean())})
    return curve
