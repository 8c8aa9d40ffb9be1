"""The four adversarial goals of Papernot et al. 2016 (The limitations of deep learning in
adversarial settings), as small objects an attack asks: which rows apply, which are done, and
what to push up.

Every goal exposes ``objective(log_probs, labels) -> (B,)``: the quantity the attack increases.
Its input gradient has, row by row, the sign of the Jacobian row the paper uses (d f_class / dx,
oriented toward the goal), because log p and p move the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from advtext.errors import AdvtextError

SUCCEEDED, FAILED, SKIPPED = "succeeded", "failed", "skipped"  # an attack record's status, text or image


def logit_margin(logits: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    """Each row's logit of its class in ``classes`` over its best other logit (negative where another leads)."""
    own = logits.gather(1, classes[:, None]).squeeze(1)
    return own - logits.scatter(1, classes[:, None], -float("inf")).amax(1)


@dataclass(frozen=True)
class Goal:
    """Base: misclassification unless a subclass says otherwise."""

    name = "goal"
    skip_reason = "the goal does not apply to this label"  # said of the rows ``applies`` leaves out

    def applies(self, labels: torch.Tensor) -> torch.Tensor:
        """Rows this goal attacks at all (targeted goals skip rows whose label is the target already)."""
        return torch.ones_like(labels, dtype=torch.bool)

    def done(self, probs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def objective(self, log_probs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def target(self, labels: torch.Tensor) -> torch.Tensor | None:
        """The class each row must reach, for targeted goals; None when any other class will do."""
        return None


@dataclass(frozen=True)
class Misclassification(Goal):
    """Untargeted: any class but the true one. Pushes the true class's probability down."""

    name = "untargeted"

    def done(self, probs, labels):
        return probs.argmax(-1) != labels

    def objective(self, log_probs, labels):
        return -log_probs.gather(1, labels[:, None]).squeeze(1)


@dataclass(frozen=True)
class TargetedMisclassification(Goal):
    """Reach class ``target``. Pushes its probability up."""

    target_class: int
    name = "targeted"
    skip_reason = "the true label already is the target class (no attack: reaching it would be a repair)"

    def applies(self, labels):
        return labels != self.target_class

    def done(self, probs, labels):
        return probs.argmax(-1) == self.target_class

    def objective(self, log_probs, labels):
        return log_probs[:, self.target_class]

    def target(self, labels):
        return torch.full_like(labels, self.target_class)


@dataclass(frozen=True)
class ConfidenceReduction(Goal):
    """Lower the true class's probability below ``threshold`` (the label may stay)."""

    threshold: float
    name = "confidence"

    def done(self, probs, labels):
        return probs.gather(1, labels[:, None]).squeeze(1) < self.threshold

    def objective(self, log_probs, labels):
        return -log_probs.gather(1, labels[:, None]).squeeze(1)


@dataclass(frozen=True)
class SourceTargetMisclassification(TargetedMisclassification):
    """Every input of class ``source`` pushed to class ``target_class``; other inputs are skipped."""

    source: int = 0
    name = "source-target"
    skip_reason = "the goal does not apply to this label (not the source class)"

    def applies(self, labels):
        return labels == self.source


def parse_goal(spec: str, num_classes: int) -> Goal:
    """``untargeted``, ``targeted:T``, ``confidence:P`` or ``source-target:S:T``; classes checked."""
    kind, *args = spec.split(":")

    def cls(value: str) -> int:
        try:
            c = int(value)
        except ValueError:
            raise AdvtextError(f"goal {spec!r}: class {value!r} is not an integer") from None
        if not 0 <= c < num_classes:
            raise AdvtextError(f"goal {spec!r}: class {c} out of range, the model has classes 0..{num_classes - 1}")
        return c

    if kind == "untargeted" and not args:
        return Misclassification()
    if kind == "targeted" and len(args) == 1:
        return TargetedMisclassification(cls(args[0]))
    if kind == "source-target" and len(args) == 2:
        source, target = cls(args[0]), cls(args[1])
        if source == target:
            raise AdvtextError(f"goal {spec!r}: source and target are the same class; choose two classes")
        return SourceTargetMisclassification(target_class=target, source=source)
    if kind == "confidence" and len(args) == 1:
        try:
            threshold = float(args[0])
        except ValueError:
            threshold = -1.0
        if not 0 < threshold < 1:
            raise AdvtextError(f"goal {spec!r}: the confidence threshold must be a probability in (0, 1)")
        return ConfidenceReduction(threshold)
    raise AdvtextError(f"unknown goal {spec!r}: use untargeted, targeted:T, confidence:P or source-target:S:T")
