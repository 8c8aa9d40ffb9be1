"""A trained image classifier (model + device), saved as a run directory like the text ones."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from advtext.checkpoint import load_config, load_weights, save_model
from advtext.engine import evaluate, select_device
from advtext.image.models import ImageModelConfig, build_image_model


@dataclass
class ImageClassifier:
    """What every image command works with: predict, save and load."""

    model: nn.Module
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    info: dict = field(default_factory=dict)

    @property
    def config(self) -> ImageModelConfig:
        return self.model.cfg

    @property
    def num_classes(self) -> int:
        return self.config.num_classes

    def logits(self, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
        """Logits for an image batch, without gradients, on the CPU."""
        self.model.eval()
        return evaluate(self.model, x.to(self.device), chunk_size=batch_size).cpu()

    def predict_proba(self, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
        """Class probabilities (N, C)."""
        return torch.softmax(self.logits(x, batch_size), -1)

    def save(self, run_dir: Path, **info) -> None:
        """Weights and config (``domain: image``, the model, anything in ``info``) into ``run_dir``."""
        save_model(run_dir, self.model, {"domain": "image", "model": self.config.to_dict(), **self.info, **info})

    @classmethod
    def load(cls, run_dir: str | Path, device: str | torch.device = "auto") -> ImageClassifier:
        """Rebuild the model from ``config.json`` and load its weights; text runs are refused."""
        run_dir = Path(run_dir)
        config = load_config(run_dir, "image")
        device = select_device(device) if isinstance(device, str) else device
        model = load_weights(run_dir, build_image_model(ImageModelConfig.from_dict(config["model"])), config)
        info = {k: v for k, v in config.items() if k not in ("domain", "model")}
        return cls(model.to(device).eval(), device, info)
