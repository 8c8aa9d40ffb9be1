"""Adversarial training of text classifiers: the training step that ``advtext harden`` plugs into
the shared training loop (``advtext.training.fit``).

* ``discrete``: each batch's texts attacked by word substitution on the current weights
  (``TrainingAdversary``), loss = alpha * CE(clean) + (1 - alpha) * CE(adversarial) (Goodfellow et
  al. 2015). With ``schedule="offline"`` the texts are crafted against the weights of the epoch's
  start instead (TextAttack's per-epoch augmentation), so the two schedules can be compared.
* ``embedding``: Miyato, Dai & Goodfellow 2017: the embedded sequence moved by
  r = epsilon * g / ||g||_2 (g the loss gradient, the norm over the whole sequence); with K steps
  the FreeLB variant: K ascent steps of epsilon / K inside the epsilon ball, the parameter
  gradients of the K losses averaged. A regulariser more than a defence against word swaps.
* ``both``: the clean loss weighted alpha, the two adversarial losses sharing 1 - alpha.

The clean pass's backward yields the embedding gradient that both perturbations start from
("free" adversarial training, Shafahi et al. 2019).
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn.functional import cross_entropy

from advtext.defenses.text_adversary import TrainingAdversary
from advtext.errors import AdvtextError
from advtext.text.attack import METHODS
from advtext.text.dictionary import Dictionary, protects_punctuation
from advtext.text.models import logits_from_words

HARDEN_METHODS = ("discrete", "embedding", "both")
SCHEDULES = ("online", "offline")


@dataclass
class HardenSettings:
    """How a model is hardened; saved in the run's config."""

    method: str = "discrete"
    alpha: float = 0.5
    epsilon: float = 0.5
    steps: int = 1
    schedule: str = "online"
    attack: str = "greedy"
    dictionary: str = "wordnet"
    protect_stopwords: bool = True
    protect_punctuation: bool | None = None  # None: on for greedy, off for papernot
    max_change: float | None = 0.2
    min_words: int = 0
    polarity_guard: bool = False
    attack_steps: int = 2

    def __post_init__(self):
        if self.method not in HARDEN_METHODS:
            raise AdvtextError(f"unknown hardening method {self.method!r}: use one of {', '.join(HARDEN_METHODS)}")
        if not 0 <= self.alpha <= 1:
            raise AdvtextError(f"--alpha {self.alpha} is outside [0, 1]: it weights the clean loss, e.g. 0.5")
        if not self.epsilon > 0:
            raise AdvtextError(f"--epsilon {self.epsilon} must be positive: the L2 radius of the embedding "
                               "perturbation, e.g. 0.5")
        if self.steps < 1 or self.attack_steps < 1:
            raise AdvtextError("--steps and --attack-steps must be at least 1")
        if self.schedule not in SCHEDULES:
            raise AdvtextError(f"unknown schedule {self.schedule!r}: use online or offline")
        if self.attack not in METHODS:
            raise AdvtextError(f"unknown attack {self.attack!r}: use one of {', '.join(METHODS)}")
        self.protect_punctuation = protects_punctuation(self.attack, self.protect_punctuation)

    @property
    def discrete(self) -> bool:
        return self.method in ("discrete", "both")

    @property
    def embedding(self) -> bool:
        return self.method in ("embedding", "both")

    def to_dict(self) -> dict:
        """The settings that apply to this method (the others have no effect and are left out)."""
        unused = (() if self.embedding else ("epsilon", "steps")) + (
            () if self.discrete else ("schedule", "attack", "dictionary", "protect_stopwords", "protect_punctuation",
                                      "max_change",
                                      "min_words", "polarity_guard", "attack_steps"))
        return {k: v for k, v in asdict(self).items() if k not in unused}


def sequence_norm(x: torch.Tensor) -> torch.Tensor:
    """L2 norm of each row's whole embedded sequence (B, 1, 1)."""
    return x.flatten(1).norm(dim=1).clamp(min=1e-12)[:, None, None]


def embedding_perturbation(grad: torch.Tensor, mask: torch.Tensor, epsilon: float) -> torch.Tensor:
    """Miyato et al.'s r = epsilon * g / ||g||_2 per row, on real tokens only (padding stays 0)."""
    g = grad * mask.unsqueeze(-1).to(grad.dtype)
    return epsilon * g / sequence_norm(g)


class AdversarialTrainingStep:
    """A ``TrainStep`` for ``advtext.training.fit``: the mixed loss, backpropagated, and its figures.

    Figures per batch: ``loss`` (the mixed loss), ``clean_loss``, ``discrete_loss`` and/or
    ``embedding_loss``, ``flipped`` / ``embedding_flipped`` (share of the batch classified correctly
    when clean and wrongly once attacked by words / in the embedding space) and ``attackable`` (share
    of the batch with a word the dictionary may change). The clean pass runs in training mode, so with
    dropout its gradient (the attack's first round) is a dropout sample's.
    """

    def __init__(self, model: nn.Module, settings: HardenSettings, dictionary: Dictionary | None = None):
        if settings.discrete and dictionary is None:
            raise AdvtextError("discrete adversarial training needs a dictionary")
        self.model, self.settings, self.dictionary = model, settings, dictionary
        # off-line, the adversary attacks a snapshot that ``epoch_start`` takes
        self.adversary = self._adversary(model) if settings.discrete and settings.schedule == "online" else None
        self.last_adversarial: torch.Tensor | None = None  # the latest batch's adversarial ids

    def _adversary(self, model: nn.Module) -> TrainingAdversary:
        s = self.settings
        return TrainingAdversary(model, self.dictionary, s.attack, s.max_change, s.attack_steps, s.min_words)

    def epoch_start(self, epoch: int) -> None:
        """Off-line schedule: this epoch's adversarial texts are crafted against the weights it starts with."""
        if self.settings.discrete and self.settings.schedule == "offline":
            self.adversary = self._adversary(copy.deepcopy(self.model).eval())

    def __call__(self, model: nn.Module, ids: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
        s = self.settings
        mask = ids != 0
        emb = model.embedding(ids)
        if emb.requires_grad:
            emb.retain_grad()
        else:  # a word-piece model's word vectors are a table of its piece embeddings: a leaf here
            emb.requires_grad_(True)
        logits = logits_from_words(model, emb, ids)
        clean = cross_entropy(logits, labels)
        correct = logits.argmax(-1) == labels
        adversarial_weight = (1 - s.alpha) / (s.discrete + s.embedding)
        if s.alpha > 0:
            (s.alpha * clean).backward()
            grad = emb.grad
        else:
            (grad,) = torch.autograd.grad(clean, emb)
        figures = {"clean_loss": clean.item()}
        total = s.alpha * clean.item()
        if s.discrete:
            if self.adversary is None:
                raise AdvtextError("the off-line schedule crafts against each epoch's starting weights: pass "
                                   "epoch_start=step.epoch_start to the training loop")
            free = grad if s.schedule == "online" else None
            adv_ids, attackable = self.adversary.craft(ids, labels, free, correct if free is not None else None)
            self.last_adversarial = adv_ids
            adv_logits = model(adv_ids)
            loss = cross_entropy(adv_logits, labels)
            (adversarial_weight * loss).backward()
            total += adversarial_weight * loss.item()
            figures.update(discrete_loss=loss.item(), attackable=attackable.float().mean().item(),
                           flipped=(correct & (adv_logits.argmax(-1) != labels)).float().mean().item())
        if s.embedding:
            loss, flipped = self._embedding_loss(model, ids, mask, labels, grad.detach(), adversarial_weight)
            total += adversarial_weight * loss
            figures.update(embedding_loss=loss, embedding_flipped=(correct & flipped).float().mean().item())
        figures["loss"] = total
        return figures

    def _embedding_loss(self, model, ids, mask, labels, grad, weight) -> tuple[float, torch.Tensor]:
        """Backpropagate the embedding-perturbation loss (weight ``weight``, averaged over the K steps);
        returns that loss and which rows the last perturbation misclassifies."""
        s = self.settings
        step = s.epsilon / s.steps
        delta = embedding_perturbation(grad, mask, step)
        total = 0.0
        for k in range(s.steps):
            delta.requires_grad_(True)
            logits = logits_from_words(model, model.embedding(ids) + delta, ids)
            loss = cross_entropy(logits, labels)
            (weight / s.steps * loss).backward()
            total += loss.item() / s.steps
            if k + 1 < s.steps:  # ascend, then project back into the epsilon ball
                with torch.no_grad():
                    delta = delta + embedding_perturbation(delta.grad, mask, step)
                    delta = delta * (s.epsilon / sequence_norm(delta)).clamp(max=1.0)
        return total, logits.argmax(-1) != labels
