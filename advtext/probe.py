"""The unit-versus-direction probe of Szegedy et al. 2013 (Intriguing properties of neural networks), for any
features: the inputs that most activate one hidden unit look as coherent as those that most activate a
random direction of the same layer. The text and image probes feed it their own hidden layers.
"""

from __future__ import annotations

import torch


def top_activating(features: torch.Tensor, direction: torch.Tensor, k: int) -> torch.Tensor:
    """Indices of the ``k`` rows of ``features`` (N, H) with the largest projection on ``direction`` (H,)."""
    return (features @ direction).topk(min(k, len(features))).indices


def unit_and_random_direction(features: torch.Tensor, unit: int, k: int,
                              generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Top-``k`` row indices for the basis vector of ``unit`` and for a random unit-norm direction."""
    h = features.shape[1]
    basis = torch.zeros(h, dtype=features.dtype)
    basis[unit] = 1.0
    random = torch.randn(h, generator=generator, dtype=features.dtype)
    return {f"unit {unit}": top_activating(features, basis, k),
            "random direction": top_activating(features, random / random.norm(), k)}
