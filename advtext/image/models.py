"""MNIST classifiers: a small CNN, a fully connected net and a shallow softmax (linear) model.

Every model maps images ``(B, 1, 28, 28)`` in [0, 1] to logits ``(B, C)`` and exposes
``hidden(x) -> (B, H)``, the last hidden layer, for the Szegedy probe (the linear model has none).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from advtext.checkpoint import SavedConfig
from advtext.errors import AdvtextError

ARCHITECTURES = ("cnn", "mlp", "linear")


@dataclass
class ImageModelConfig(SavedConfig):
    """Everything needed to rebuild an image model before its weights are loaded."""

    architecture: str = "cnn"
    num_classes: int = 10
    channels: int = 1
    side: int = 28
    hidden_size: int = 128
    conv_channels: list[int] = field(default_factory=lambda: [32, 64])


class SmallCNN(nn.Module):
    """Two 5x5 conv + ReLU + 2x2 max-pool blocks, a hidden ReLU layer, a linear output (LeNet-like)."""

    def __init__(self, cfg: ImageModelConfig):
        super().__init__()
        c1, c2 = cfg.conv_channels
        self.cfg = cfg
        self.features = nn.Sequential(
            nn.Conv2d(cfg.channels, c1, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten())
        self.fc = nn.Linear(c2 * (cfg.side // 4) ** 2, cfg.hidden_size)
        self.out = nn.Linear(cfg.hidden_size, cfg.num_classes)

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.fc(self.features(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.hidden(x))


class FullyConnected(nn.Module):
    """784 -> hidden -> hidden -> classes with ReLUs."""

    def __init__(self, cfg: ImageModelConfig):
        super().__init__()
        self.cfg = cfg
        n = cfg.channels * cfg.side ** 2
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(n, cfg.hidden_size), nn.ReLU(),
                                  nn.Linear(cfg.hidden_size, cfg.hidden_size), nn.ReLU())
        self.out = nn.Linear(cfg.hidden_size, cfg.num_classes)

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.hidden(x))


class SoftmaxRegression(nn.Module):
    """The shallow softmax classifier of Goodfellow et al. 2015: one linear layer on the pixels."""

    def __init__(self, cfg: ImageModelConfig):
        super().__init__()
        self.cfg = cfg
        self.out = nn.Linear(cfg.channels * cfg.side ** 2, cfg.num_classes)

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        raise AdvtextError("the linear model has no hidden layer to probe: use a cnn or mlp run")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(x.flatten(1))


def build_image_model(cfg: ImageModelConfig) -> nn.Module:
    """A freshly initialised model of ``cfg.architecture``."""
    builders = {"cnn": SmallCNN, "mlp": FullyConnected, "linear": SoftmaxRegression}
    if cfg.architecture not in builders:
        raise AdvtextError(f"unknown image model {cfg.architecture!r}: use one of {', '.join(ARCHITECTURES)}")
    return builders[cfg.architecture](cfg)
