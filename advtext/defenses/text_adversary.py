"""The word-substitution adversary that runs inside adversarial training.

It is the sequence attack's own scoring (``SequenceAttack.first_order_substitutes`` for greedy, the
sign rule for papernot), cut to a fixed number of gradient passes so that crafting a batch costs a
small multiple of a clean training step. Each of ``steps`` rounds spends a share of every row's
remaining word budget at once: greedy takes the positions whose best substitute has the largest
first-order gain (HotFlip); papernot takes random open positions and Papernot's sign-matching word.
The first round's gradient comes free from the clean training step; each further round costs one
forward and backward pass, which also shows which rows are already misclassified (they stop).
"""

from __future__ import annotations

import torch
from torch import nn

from advtext.engine import attack_mode
from advtext.goals import Misclassification
from advtext.text.attack import AttackSettings, SequenceAttack, word_budget
from advtext.text.dictionary import Dictionary


class TrainingAdversary:
    """Crafts adversarial id batches against the current weights of ``model``."""

    def __init__(self, model: nn.Module, dictionary: Dictionary, method: str = "greedy",
                 max_change: float | None = 0.2, steps: int = 2, min_words: int = 0):
        self.model, self.steps, self.max_change, self.min_words = model, steps, max_change, min_words
        self.attack = SequenceAttack(model, Misclassification(), dictionary, AttackSettings(method=method))

    @torch.no_grad()
    def craft(self, ids: torch.Tensor, labels: torch.Tensor, grad: torch.Tensor | None = None,
              correct: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Adversarial versions of ``ids`` (B, T), and which rows had a word the dictionary may change.

        ``grad``: the gradient of the loss w.r.t. the embeddings of ``ids`` (any positive scale), and
        ``correct``: which rows the model classifies correctly, when the caller has them already.
        """
        attack = self.attack
        attack.refresh()
        ids = ids.clone()
        open_positions = attack.changeable(ids)
        attackable = open_positions.any(1)
        budget = word_budget((ids != 0).sum(1), self.max_change, self.min_words)
        changed = torch.zeros_like(budget)
        active = attackable.clone() if correct is None else attackable & correct
        with attack_mode(self.model):
            for step in range(self.steps):
                if step > 0 or grad is None:
                    grad = torch.zeros(*ids.shape, attack.table.shape[1], device=ids.device)
                    rows = active.nonzero().flatten()
                    if len(rows):
                        _, grad[rows], _, still_correct = attack._log_probs_and_grad(ids[rows], labels[rows])
                        active[rows] &= still_correct
                rows = (active & open_positions.any(1) & (changed < budget)).nonzero().flatten()
                if not len(rows):
                    break
                # this round's share of what is left of each row's budget
                quota = (budget[rows] - changed[rows] + self.steps - step - 1) // (self.steps - step)
                pos, sub = self._substitutions(ids[rows], grad[rows], open_positions[rows], int(quota.max()))
                within = torch.arange(pos.shape[1], device=ids.device)[None] < quota[:, None]
                r, j = within.nonzero(as_tuple=True)  # each row tries its own quota of positions, once
                open_positions[rows[r], pos[r, j]] = False
                take = within & (sub >= 0)
                r, j = take.nonzero(as_tuple=True)
                ids[rows[r], pos[r, j]] = sub[r, j]
                changed[rows] += take.sum(1)
        return ids, attackable

    def _substitutions(self, ids: torch.Tensor, grad: torch.Tensor, open_positions: torch.Tensor,
                       quota: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Up to ``quota`` positions per row (b, q), best first, and their substitutes (-1: none)."""
        attack = self.attack
        quota = min(quota, ids.shape[1])
        if attack.settings.method == "greedy":
            n_pos = min(ids.shape[1], max(attack.settings.top_positions, 2 * quota))
            pos, word, gain = attack.first_order_substitutes(ids, grad, open_positions, n_pos, 1)
            gain, best = gain[..., 0].topk(quota, dim=1)
            sub = word[..., 0].gather(1, best).masked_fill(~(gain > 0), -1)  # no first-order gain: no change
            return pos.gather(1, best), sub
        priority = torch.rand(ids.shape, device=ids.device).masked_fill(~open_positions, -1.0)
        value, pos = priority.topk(quota, dim=1)
        sub = torch.stack([attack.sign_substitutes(ids, grad, pos[:, j]) for j in range(quota)], dim=1)
        return pos, sub.masked_fill(value < 0, -1)
