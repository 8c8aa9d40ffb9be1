"""The query-only attack of ``--threat oracle``: the target is a black box that returns class probabilities.

Score-based, as TextFooler and PWWS are: a word's importance is how much deleting it moves the goal's
objective (one query per word that may change); the words are then tried in that order, each with every
candidate its dictionary offers written into the text and classified (one query per candidate), and the
candidate that moves the objective most is kept if it moves it at all. It stops at the goal, at the word
budget, or when no word is left. No gradient is read; every text the target classifies is counted.

Batched: the texts of a batch move in lockstep, and all their deleted-word texts, then all their
candidate texts of one step, are classified together.
"""

from __future__ import annotations

import torch

from advtext.engine import evaluate
from advtext.errors import AdvtextError
from advtext.goals import Goal
from advtext.text.attack import (
    FAILED,
    SKIPPED,
    SUCCEEDED,
    Accept,
    AttackSettings,
    Outcome,
    changeable_positions,
    ranked_candidates,
    word_budget,
)
from advtext.text.classifier import pad_ids
from advtext.text.dictionary import Dictionary
from advtext.text.models import substituted

CHUNK = 1024  # texts per forward pass


def whole_vocabulary_refused(name: str) -> AdvtextError:
    return AdvtextError(f"--threat oracle tries every candidate with a query, and dictionary {name!r} offers every "
                        "word of the vocabulary: give a synonym dictionary (--dictionary wordnet or glove:T)")


def without_word(ids: torch.Tensor, row: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """``ids[row]`` with the word at ``pos`` deleted (the words after it move left, padding fills the end)."""
    width = ids.shape[1]
    place = torch.arange(width, device=ids.device)[None]
    index = place + (place >= pos[:, None])
    shifted = ids[row].gather(1, index.clamp(max=width - 1))
    shifted[:, -1] = 0
    return shifted


class QueryAttack:
    """One configured query-only attack; ``run`` attacks a batch (the same contract as ``SequenceAttack.run``,
    with ``forwards`` counting the texts classified and ``backwards`` always 0)."""

    def __init__(self, model: torch.nn.Module, goal: Goal, dictionary: Dictionary, settings: AttackSettings):
        if dictionary.candidates is None:
            raise whole_vocabulary_refused(dictionary.name)
        self.model, self.goal, self.settings = model, goal, settings
        self.device = model.embedding.weight.device
        self.dictionary = dictionary.to(self.device)

    def _scores(self, ids: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Probabilities (N, C) of the texts ``ids`` and the score that ranks them (``ranked_candidates``)."""
        return ranked_candidates(self.goal, evaluate(self.model, ids, chunk_size=CHUNK), labels)

    @torch.no_grad()
    def run(self, rows: list[list[int]], labels: list[int], keys: list[int], accept: Accept | None = None
            ) -> list[Outcome]:
        """Attack a batch of id sequences with their labels (``keys`` unused: the attack draws nothing);
        ``accept`` (rows of this batch, candidate ids, changed positions) may refuse candidate texts."""
        n = len(rows)
        original = pad_ids(rows, self.device)
        ids = original.clone()
        y = torch.tensor(labels, device=self.device)
        open_positions = changeable_positions(self.model, self.dictionary, ids)
        budget = word_budget((ids != 0).sum(1), self.settings.max_change, self.settings.min_words)
        queries = torch.ones(n, dtype=torch.long, device=self.device)
        probs_before, score = self._scores(ids, y)
        probs_after = probs_before.clone()
        status, reason = [FAILED] * n, ["no word left that may be changed"] * n
        applies, reached = self.goal.applies(y), self.goal.done(probs_before, y)
        for r, (a, held, none) in enumerate(zip(applies.tolist(), reached.tolist(), (budget == 0).tolist())):
            if not a:
                status[r], reason[r] = SKIPPED, self.goal.skip_reason
            elif held:
                status[r], reason[r] = SKIPPED, "the goal already holds before the attack"
            elif none:
                reason[r] = "no word may change: --max-change allows none in a text this short"
        active = applies & ~reached & (budget > 0)
        open_positions &= active[:, None]
        # importance: how far deleting each word that may change moves the objective
        row, pos = open_positions.nonzero(as_tuple=True)
        importance = torch.full(ids.shape, -float("inf"), device=self.device)
        if len(row):
            _, deleted = self._scores(without_word(ids, row, pos), y[row])
            importance[row, pos] = deleted - score[row]
            queries += torch.bincount(row, minlength=n)
        order = importance.argsort(dim=1, descending=True, stable=True)
        tries = open_positions.sum(1)
        for step in range(int(tries.max()) if n else 0):
            go = (active & (step < tries) & ((ids != original).sum(1) < budget)).nonzero().flatten()
            if not len(go):
                break
            at = order[go, step]
            cand = self.dictionary.candidates[ids[go, at]]  # (b, K), -1 padded
            slot_row, slot = (cand >= 0).nonzero(as_tuple=True)
            texts = substituted(ids, go[slot_row], at[slot_row], cand[slot_row, slot])
            if accept is not None and len(slot_row):
                ok = accept(go[slot_row], texts, texts != original[go[slot_row]])
                slot_row, slot, texts = slot_row[ok], slot[ok], texts[ok]
            if not len(slot_row):
                continue
            probs, cand_score = self._scores(texts, y[go[slot_row]])
            queries += torch.bincount(go[slot_row], minlength=n)
            best = torch.full((len(go),), -float("inf"), device=self.device).scatter_reduce(
                0, slot_row, cand_score, "amax")
            # the first candidate (lowest slot) with the best score: ties go to the dictionary's order
            first = torch.full((len(go),), cand.shape[1], device=self.device).scatter_reduce(
                0, slot_row, torch.where(cand_score == best[slot_row], slot, cand.shape[1]), "amin")
            take = (best > score[go]).nonzero().flatten()
            where = torch.full(cand.shape, -1, dtype=torch.long, device=self.device)  # (row, slot) -> its text
            where[slot_row, slot] = torch.arange(len(slot_row), device=self.device)
            chosen = where[take, first[take]]
            rows_taken = go[take]
            ids[rows_taken, at[take]] = cand[take, first[take]]
            score[rows_taken] = best[take]
            probs_after[rows_taken] = probs[chosen]
            now = self.goal.done(probs[chosen], y[rows_taken])
            for r in rows_taken[now].tolist():
                status[r], reason[r] = SUCCEEDED, ""
            active[rows_taken[now]] = False
        spent = active & ((ids != original).sum(1) >= budget)
        for r in spent.nonzero().flatten().tolist():
            reason[r] = "word budget spent"
        # read back from the device once per batch
        changed = (ids != original).cpu()
        ids, queries = ids.cpu().tolist(), queries.cpu().tolist()
        probs_before, probs_after = probs_before.cpu().tolist(), probs_after.cpu().tolist()
        return [Outcome(status[r], ids[r][: len(rows[r])], changed[r, : len(rows[r])].nonzero().flatten().tolist(),
                        probs_before[r], probs_after[r], queries[r], 0, reason[r]) for r in range(n)]
