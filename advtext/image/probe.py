"""The image side of the unit-versus-direction probe (``advtext.probe``): an image model's hidden layer."""

from __future__ import annotations

import torch

from advtext.engine import evaluate


def hidden_features(model: torch.nn.Module, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """The last hidden layer's activations (N, H) of an image model."""
    model.eval()
    return evaluate(model.hidden, x, chunk_size=batch_size)
