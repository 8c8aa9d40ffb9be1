"""The unit-versus-direction probe of Szegedy et al. 2013 (Intriguing properties of neural networks):
the inputs that most activate one hidden unit look as coherent as those that most activate a random
direction of the same layer, so single units are no more "meaningful" than directions.
"""

from __future__ import annotations

import torch

from advtext.engine import evaluate


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


def hidden_features(model: torch.nn.Module, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """The last hidden layer's activations (N, H) of an image model."""
    model.eval()
    return evaluate(model.hidden, x, chunk_size=batch_size)
