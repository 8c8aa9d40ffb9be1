"""Adversarial training of image classifiers: the training step that ``advtext image harden`` plugs into the
shared training loop (``advtext.training.fit``).

* ``fgsm``: Goodfellow, Shlens & Szegedy 2015: loss = alpha * CE(x) + (1 - alpha) * CE(x + eps sign(g)),
  the FGSM example crafted on the current weights for every batch;
* ``pgd``: Madry et al. 2018: the examples are K projected gradient steps of size a inside the eps-ball,
  from a random start (their MNIST challenge: eps 0.3, 40 steps of 0.01); with alpha 0 the loss is the
  adversarial one alone, as theirs.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn.functional import cross_entropy

from advtext.engine import attack_mode
from advtext.errors import AdvtextError
from advtext.image.fgsm import fast_gradient_method, projected_gradient_descent, row_random_starts

IMAGE_HARDEN_METHODS = ("fgsm", "pgd")


@dataclass
class ImageHardenSettings:
    """How an image model is hardened; saved in the run's config."""

    method: str = "fgsm"
    eps: float = 0.25
    alpha: float = 0.5
    steps: int = 40
    step_size: float = 0.01
    random_start: bool = True

    def __post_init__(self):
        if self.method not in IMAGE_HARDEN_METHODS:
            raise AdvtextError(f"unknown hardening method {self.method!r}: use fgsm or pgd")
        if not 0 < self.eps <= 1:
            raise AdvtextError(f"--eps {self.eps} is outside (0, 1]: the L-infinity radius in pixel units, e.g. 0.25")
        if not 0 <= self.alpha < 1:
            raise AdvtextError(f"--alpha {self.alpha} is outside [0, 1): it weights the clean loss, e.g. 0.5")
        if self.steps < 1 or not self.step_size > 0:
            raise AdvtextError("--steps must be at least 1 and --step-size positive")

    def to_dict(self) -> dict:
        """The settings that apply to this method."""
        unused = ("steps", "step_size", "random_start") if self.method == "fgsm" else ()
        return {k: v for k, v in asdict(self).items() if k not in unused}


class ImageAdversarialStep:
    """A ``TrainStep``: the mixed loss on clean and adversarial images, backpropagated; figures ``loss``,
    ``clean_loss``, ``adversarial_loss`` and ``flipped`` (share of the batch right when clean, wrong when
    attacked)."""

    def __init__(self, settings: ImageHardenSettings, seed: int = 0):
        self.settings, self.seed, self.epoch = settings, seed, 0

    def epoch_start(self, epoch: int) -> None:
        """Each epoch draws new random starts (``fit`` calls this before every epoch it trains)."""
        self.epoch = epoch

    def random_starts(self, x: torch.Tensor) -> torch.Tensor:
        """PGD's start for each image, drawn from (seed, epoch, the image's pixels): the same whichever torchrun
        rank takes the image, and in a run resumed after its last finished epoch."""
        keys = [zlib.crc32(row.tobytes()) for row in x.detach().cpu().numpy()]
        return row_random_starts(x, self.settings.eps, math.inf, keys, self.seed * 10_007 + self.epoch)

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
        s = self.settings
        with attack_mode(model) as m:  # the attack sees the weights as they are, without building their gradients
            if s.method == "fgsm":
                adv = fast_gradient_method(m, x, s.eps, y=y)
            else:
                adv = projected_gradient_descent(m, x, s.eps, s.step_size, s.steps, y=y, rand_init=s.random_start,
                                                 start=self.random_starts(x) if s.random_start else None)
        model.train()
        logits = model(x)
        clean = cross_entropy(logits, y)
        adv_logits = model(adv.detach())
        adversarial = cross_entropy(adv_logits, y)
        loss = s.alpha * clean + (1 - s.alpha) * adversarial
        loss.backward()
        flipped = (logits.argmax(1) == y) & (adv_logits.argmax(1) != y)
        return {"loss": loss.item(), "clean_loss": clean.item(), "adversarial_loss": adversarial.item(),
                "flipped": flipped.float().mean().item()}
