"""Defensive distillation (Papernot, McDaniel, Wu, Jha & Swami 2016), for image and text models alike.

A teacher is trained with its softmax at temperature T (cross-entropy of ``logits / T``); a student of
the same architecture is trained on the teacher's soft labels ``softmax(teacher(x) / T)``, its own
softmax at T too; the student is then deployed at T = 1: its saved logits are used as they are. Since
it learnt ``logits / T``, its logits at T = 1 are about T times larger than an ordinary network's and
its softmax is saturated: the gradients of the softmax and of the loss vanish almost everywhere, which
stops attacks that follow them (JSMA on probabilities, FGSM) without making the network more robust.
Carlini & Wagner's attack on the logits (``advtext.image.cw``) shows it.

Both steps plug into the shared training loop as ``TrainStep``s (``advtext.training.fit``).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.functional import cross_entropy, log_softmax, softmax

from advtext.errors import AdvtextError


def check_temperature(temperature: float) -> None:
    if not temperature >= 1:
        raise AdvtextError(f"--temperature {temperature} must be at least 1 (the paper uses 100; 1 is plain training)")


class TemperatureStep:
    """The teacher's training step: cross-entropy of the logits divided by T."""

    def __init__(self, temperature: float):
        check_temperature(temperature)
        self.temperature = temperature

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
        loss = cross_entropy(model(x) / self.temperature, y)
        loss.backward()
        return {"loss": loss.item()}


class DistillationStep:
    """The student's training step: cross-entropy against the teacher's soft labels, both at temperature T
    (the teacher is frozen; its soft labels are computed batch by batch, never stored)."""

    def __init__(self, teacher: nn.Module, temperature: float):
        check_temperature(temperature)
        self.teacher, self.temperature = teacher.eval(), temperature
        for p in self.teacher.parameters():
            p.requires_grad_(False)

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
        with torch.no_grad():
            soft = softmax(self.teacher(x) / self.temperature, -1)
        logits = model(x)
        loss = -(soft * log_softmax(logits / self.temperature, -1)).sum(-1).mean()
        loss.backward()
        return {"loss": loss.item(), "agreement": (logits.argmax(-1) == soft.argmax(-1)).float().mean().item()}
