"""The Jacobian-guided sequence attack of Papernot et al. 2016 (Crafting adversarial input
sequences for recurrent neural networks), batched over sentences, in two modes:

* ``papernot`` (faithful): pick a word position at random among those not yet changed; replace
  the word by the dictionary word z minimising || sign(e_z - e_x) - sign(J) ||_1, where J is the
  gradient of the goal's objective with respect to that word's embedding (the Jacobian row of the
  attacked class, oriented toward the goal); repeat until the goal holds or the budget is spent.
* ``greedy`` (improved): rank positions by gradient saliency (L2 norm of the word's gradient),
  score every substitute at the top positions by the first-order gain (e_z - e_x) . J (HotFlip)
  in one matrix product, verify the best few with a real forward pass, and keep the best.

Rows that finish leave the working batch, so the slowest sentence does not set the cost of all.
A caller may add a check of whole candidate texts (``Accept``, e.g. sentence similarity): a
substitution it refuses is not made (papernot: its position counts as tried) or not verified
(greedy: its position stays open unless no candidate of the step passed).
Position choices draw from one random generator per sentence (seeded by the attack seed and the
sentence's key), so batched and one-at-a-time runs make the same choices.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np
import torch

from advtext.engine import attack_mode, evaluate, gradient_where, joined
from advtext.errors import AdvtextError
from advtext.goals import FAILED, SKIPPED, SUCCEEDED, Goal, logit_margin
from advtext.text.classifier import pad_ids
from advtext.text.dictionary import Dictionary
from advtext.text.models import LSTMClassifier, logits_from_words, substituted, substitution_logits
from advtext.text.sign_search import check_name as check_sign_search
from advtext.text.sign_search import sign_match, sign_match_candidates

METHODS = ("papernot", "greedy")
# (batch rows (N,), candidate id sequences (N, T), their changed positions (N, T)) -> accepted (N,); T is the
# longest of the rows stepped with them, at most the batch's padded width
Accept = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class AttackSettings:
    """``max_change``: at most this fraction of a sentence's words (None: every word once, as in the paper),
    a hard cap unless ``min_words`` (a floor, like A2T's minimum) allows more. ``min_similarity``: the
    sentence similarity every candidate text must keep (checked by the caller's ``Accept``; None: no check);
    ``measure_similarity``: whether the records carry each text's similarity (MiniLM; the costliest figure).
    Greedy mode, per step: ``top_positions`` scored over the dictionary, ``words_per_position`` best
    first-order substitutes kept at each, and the ``verify`` best of those checked by a forward pass.
    ``query_only``: the attack reads no gradient, only the target's probabilities (``--threat oracle``; see
    ``advtext.text.query_attack``). ``objective``: what the attack climbs, ``log-probs`` (the goal's
    log-probability objective) or ``logits`` (Carlini & Wagner's margin on the logits, which a distilled
    model's saturated softmax cannot flatten). ``sign_search``: how papernot's search runs (one of
    ``sign_search.METHODS``; None: the fastest for the device); every choice gives the same records.
    ``bf16``: the model's forward and backward passes after the first run under bfloat16 autocast (the first,
    on the texts as given, the embedding table, the sign search, greedy's first-order scores and the goal's
    objective stay float32); the caller classifies each adversarial text again in float32, and only that
    verdict counts. Gradient attacks only. ``active_rows``: at most this many texts of a batch are stepped at once,
    finished texts making room for the next (None: the whole batch); a text's changes do not depend on it."""

    method: str = "papernot"
    max_change: float | None = None
    min_words: int = 0
    min_similarity: float | None = None
    measure_similarity: bool = True
    top_positions: int = 6
    words_per_position: int = 1
    verify: int = 6
    seed: int = 0
    query_only: bool = False
    objective: str = "log-probs"
    sign_search: str | None = None
    bf16: bool = False
    active_rows: int | None = None

    def __post_init__(self):
        if self.objective not in OBJECTIVES:
            raise AdvtextError(f"unknown objective {self.objective!r}: use {' or '.join(OBJECTIVES)}")
        if self.sign_search is not None:
            check_sign_search(self.sign_search)
            if self.method != "papernot":
                raise AdvtextError(f"--sign-search picks how papernot's search runs, which --method {self.method} "
                                   "does not run: drop it")
        if self.active_rows is not None and self.active_rows < 1:
            raise AdvtextError(f"active_rows must be at least 1, not {self.active_rows}")
        if self.active_rows is not None and self.query_only:
            raise AdvtextError("--active-rows paces the gradient attack's steps; the query-only attack (--threat "
                               "oracle) steps every text of a batch at once: drop --active-rows")
        if self.bf16 and self.query_only:
            raise AdvtextError("bf16 speeds up a gradient attack's passes, and the query-only attack (--threat oracle) "
                               "runs none: drop --bf16")


OBJECTIVES = ("log-probs", "logits")


def refuse_unused_sign_search(settings: AttackSettings, dictionary: Dictionary) -> None:
    """Refuse a ``sign_search`` that would not be used: a synonym dictionary's short lists are searched directly."""
    if settings.sign_search is not None and dictionary.candidates is not None:
        raise AdvtextError("--sign-search picks how the search over the whole vocabulary runs, and a synonym "
                           "dictionary's short lists are searched directly: drop --sign-search")


def goal_objective(goal: Goal, logits: torch.Tensor, labels: torch.Tensor, objective: str) -> torch.Tensor:
    """The value (B,) an attack raises: the goal's objective on the log-probabilities, or on the logits the margin
    toward the goal (a target's logit over the best other; for the other goals, the best other logit over the
    label's)."""
    logits = logits.float()
    if objective == "log-probs":
        return goal.objective(torch.log_softmax(logits, -1), labels)
    toward = goal.target(labels)
    return -logit_margin(logits, labels) if toward is None else logit_margin(logits, toward)


@dataclass
class Outcome:
    """What the attack did to one sentence (ids truncated to the model's max_len)."""

    status: str
    ids: list[int]
    changed: list[int]
    probs_before: list[float]
    probs_after: list[float]
    forwards: int
    backwards: int
    reason: str = ""


def row_priorities(lengths: list[int], keys: list[int], seed: int, width: int) -> torch.Tensor:
    """Random position priorities (B, width), one generator seed per sentence: independent of batching.

    The loop over sentences runs once per batch and costs about 5.5 microseconds a sentence
    (``benchmarks/bench_text_overhead.py``, 2 cores): under 0.1% of the CPU attack's 7 ms a review and about 2% of
    a GPU's 0.24 ms (the README's figures).
    """
    out = torch.full((len(lengths), width), -1.0)
    g = torch.Generator()
    for r, (n, key) in enumerate(zip(lengths, keys)):
        g.manual_seed((seed * 1_000_003 + key) % (2**63))
        torch.rand(n, generator=g, out=out[r, :n])
    return out


def word_budget(lengths: torch.Tensor, max_change: float | None, min_words: int = 0) -> torch.Tensor:
    """Words each row may change: every word (``max_change`` None), else at most the fraction ``max_change``
    of them, rounded down (a hard cap: 0 for a text too short), raised to ``min_words`` where the cap is
    lower; never more than the row's length."""
    if max_change is None:
        return lengths.clone()
    cap = (max_change * lengths.double() + 1e-9).floor().long()
    return torch.minimum(cap.clamp(min=min_words), lengths)


def ranked_candidates(goal: Goal, logits: torch.Tensor, labels: torch.Tensor,
                      objective: str = "log-probs") -> tuple[torch.Tensor, torch.Tensor]:
    """Probabilities (N, C) of candidate texts and the score that ranks them: the attack's objective, plus a
    large bonus where the goal is reached (so any text that reaches it ranks first)."""
    probs = torch.log_softmax(logits.float(), -1).exp()
    return probs, goal_objective(goal, logits, labels, objective) + 1e4 * goal.done(probs, labels).float()


def changeable_positions(model: torch.nn.Module, dictionary: Dictionary, ids: torch.Tensor) -> torch.Tensor:
    """Positions (B, T) the dictionary lets an attack change: real, unprotected words with a substitute (and,
    for a word-piece model, words that fit in its positions)."""
    open_positions = (ids != 0) & ~dictionary.protected[ids] & dictionary.has_candidates(ids)
    if hasattr(model, "visible_words"):
        open_positions &= model.visible_words(ids)
    return open_positions


# how a row of a batch ends, as the attack loop records it on the device, and the status and reason it means
RUNNING, GOAL_NOT_APPLICABLE, HELD_BEFORE, REACHED, NO_BUDGET, BUDGET_SPENT, NOTHING_LEFT = range(7)
ENDINGS = {
    RUNNING: (FAILED, "the attack stopped before the goal"),
    GOAL_NOT_APPLICABLE: (SKIPPED, ""),  # the goal's own skip reason
    HELD_BEFORE: (SKIPPED, "the goal already holds before the attack"),
    REACHED: (SUCCEEDED, ""),
    NO_BUDGET: (FAILED, "no word may change: --max-change allows none in a text this short"),
    BUDGET_SPENT: (FAILED, "word budget spent"),
    NOTHING_LEFT: (FAILED, "no word left that may be changed"),
}


def to_device(indices: np.ndarray, device: torch.device) -> torch.Tensor:
    """Host-side row indices on ``device``, without waiting for the work queued there (on a GPU a pinned buffer
    and an asynchronous copy; a plain copy would wait for the queue to empty)."""
    rows = torch.from_numpy(indices)
    return rows.pin_memory().to(device, non_blocking=True) if device.type == "cuda" else rows.to(device)


class SequenceAttack:
    """One configured attack: model, goal, dictionary and settings; ``run`` attacks a batch."""

    def __init__(self, model: torch.nn.Module, goal: Goal, dictionary: Dictionary, settings: AttackSettings):
        if settings.method not in METHODS:
            raise AdvtextError(f"unknown attack method {settings.method!r}: use one of {', '.join(METHODS)}")
        refuse_unused_sign_search(settings, dictionary)
        self.model, self.goal, self.settings = model, goal, settings
        self.table = model.embedding.weight.detach()
        if len(dictionary.allowed) != len(self.table):
            raise AdvtextError(f"the dictionary covers {len(dictionary.allowed)} words but the model's vocabulary has "
                               f"{len(self.table)}: build the dictionary after the texts are given to the model "
                               "(TextClassifier.cover)")
        self.device = self.table.device
        self.dictionary = dictionary.to(self.device)
        self.allowed_ids = self.dictionary.allowed.nonzero().flatten()
        self.refresh()

    def refresh(self) -> None:
        """Re-read the embedding table after the weights changed (adversarial training attacks a moving model): a
        word-piece model's word vectors are a table rebuilt from its pieces, not a view of its weights."""
        self.table = self.model.embedding.weight.detach()
        if self.dictionary.candidates is None:  # (E, V') for greedy's product with the whole dictionary
            self.allowed_table_t = self.table[self.allowed_ids].T.contiguous()
            by_class = self.dictionary.allowed_by_class
            self.allowed_by_class = None if by_class is None else by_class[:, self.allowed_ids]

    def _log_probs_and_grad(self, ids: torch.Tensor, labels: torch.Tensor, may_continue: torch.Tensor | None = None):
        """Log-probabilities (b, C), the goal objective's gradient w.r.t. the embeddings (b, T, E), the LSTM's
        hidden states (b, T, H) on the way (None for other models), and which rows need a gradient (go on).

        Only rows that ``may_continue`` (default: all) and whose goal the forward pass shows unmet need a
        gradient; the others' gradient rows are zero.
        """
        log_probs, hidden = [], []
        if may_continue is None:
            may_continue = torch.ones_like(labels, dtype=torch.bool)

        def objective(emb, mask, y, go_on, ids_):
            if isinstance(self.model, LSTMClassifier):
                h = self.model.hidden_states(emb, mask)
                # in the model's own precision whatever the pass's: a row's next step (greedy's suffix reruns)
                # must not depend on which rows shared its pass
                hidden.append(h.detach().to(self.model.fc.weight.dtype))
                logits = self.model.head(h, mask)
            else:
                logits = logits_from_words(self.model, emb, ids_)
            lp = torch.log_softmax(logits.float(), -1)
            log_probs.append(lp.detach())
            return (goal_objective(self.goal, logits, y, self.settings.objective),
                    go_on & ~self.goal.done(lp.detach().exp(), y))

        _, grad, wanted = gradient_where(objective, self.table[ids], ids != 0, labels, may_continue, ids)
        return joined(log_probs), grad, joined(hidden) if hidden else None, wanted

    def changeable(self, ids: torch.Tensor) -> torch.Tensor:
        return changeable_positions(self.model, self.dictionary, ids)

    def sign_substitutes(self, ids: torch.Tensor, grad: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        """Papernot's substitute at position ``pos`` (b,) of each row: the dictionary word whose embedding
        difference best matches the sign of the gradient there (-1 where the dictionary offers none)."""
        rows = torch.arange(ids.shape[0], device=ids.device)
        current = ids[rows, pos]
        signs = torch.sign(grad[rows, pos])
        d = self.dictionary
        if d.candidates is None and d.allowed_by_class is None:
            best, _ = sign_match(self.table, current, signs, d.allowed, method=self.settings.sign_search)
        elif d.candidates is None:  # a pair constraint: each class of replaced word has its own dictionary
            best = torch.full_like(current, -1)
            cls = d.word_class[current]
            for c in cls.unique().tolist():
                rows = cls == c
                best[rows] = sign_match(self.table, current[rows], signs[rows], d.allowed_by_class[c],
                                       method=self.settings.sign_search)[0].to(ids.device)
        else:
            best, _ = sign_match_candidates(self.table, current, signs, d.candidates[current])
        return best.to(ids.device)

    def first_order_substitutes(self, ids: torch.Tensor, grad: torch.Tensor, open_positions: torch.Tensor,
                                n_pos: int, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The ``n_pos`` most salient open positions of each row (L2 norm of the gradient) and, at each, the
        ``k`` substitutes with the largest first-order gain (e_z - e_x) . g (HotFlip).

        Returns positions (b, P), words (b, P, k') and gains (b, P, k'); a gain of -inf marks no candidate
        (a closed position, or a word whose list is empty).
        """
        n_pos = min(n_pos, ids.shape[1])
        saliency = grad.norm(dim=-1).masked_fill(~open_positions, -float("inf"))
        top_val, top_pos = saliency.topk(n_pos, dim=1)
        g = grad.gather(1, top_pos[..., None].expand(-1, -1, grad.shape[-1]))  # (b, P, E)
        current = ids.gather(1, top_pos)  # (b, P)
        base = (self.table[current] * g).sum(-1, keepdim=True)
        if self.dictionary.candidates is None:
            # one product with the allowed words only; the constant e_x . g is subtracted after the top-k,
            # and one spare is kept in case the current word itself ranks among the best
            with torch.autocast(ids.device.type, enabled=False):  # the first-order scores stay float32
                scores = g @ self.allowed_table_t
            if self.allowed_by_class is not None:  # the pair constraint of each replaced word's class
                scores = scores.masked_fill(~self.allowed_by_class[self.dictionary.word_class[current]], -float("inf"))
            scores, index = scores.topk(min(k + 1, self.allowed_ids.numel()), dim=2)
            words = self.allowed_ids[index]
        else:
            words = self.dictionary.candidates[current]  # (b, P, K)
            scores = (self.table[words.clamp(min=0)] * g[:, :, None]).sum(-1)
            scores = scores.masked_fill(words < 0, -float("inf"))
        gain = (scores - base).masked_fill(words == current[..., None], -float("inf"))
        gain = gain.masked_fill(~torch.isfinite(top_val)[..., None], -float("inf"))
        top_gain, top_k = gain.topk(min(k, gain.shape[2]), dim=2)
        return top_pos, words.gather(2, top_k), top_gain

    def _papernot_step(self, ids, grad, open_positions, priority, accept=None):
        """Random untried position; the sign-matching substitute from the dictionary (none where ``accept``
        refuses the text it would make).

        Returns the positions tried (b, k; the first is the one changed), substitutes (-1: none), extra
        forward passes per row (0: papernot verifies nothing), and (None) checked probabilities.
        """
        pos = priority.masked_fill(~open_positions, -2.0).argmax(1)
        sub = self.sign_substitutes(ids, grad, pos)
        if accept is not None:
            row = (sub >= 0).nonzero().flatten()
            if len(row):
                ok = accept(row, substituted(ids, row, pos[row], sub[row]))
                sub[row[~ok]] = -1
        return pos[:, None], sub, 0, None

    def _greedy_step(self, ids, grad, open_positions, labels, hidden, accept=None):
        """Saliency-ranked positions, first-order (HotFlip) substitutes, the best few verified.

        Returns like ``_papernot_step``, with the verified probabilities of each chosen substitution.
        Only real candidates are verified: rows differ in length and in how many candidates are left.
        """
        b = ids.shape[0]
        top_pos, top_word, top_gain = self.first_order_substitutes(
            ids, grad, open_positions, self.settings.top_positions, self.settings.words_per_position)
        k = top_gain.shape[2]
        n_cand = min(self.settings.verify, top_gain.shape[1] * k)
        cand_gain, flat = top_gain.flatten(1).topk(n_cand, dim=1)  # best first-order gains first
        pos = top_pos.gather(1, flat // k)
        sub = top_word.flatten(1).gather(1, flat)
        valid = torch.isfinite(cand_gain)
        row, slot = valid.nonzero(as_tuple=True)
        if accept is not None and len(row):  # the whole candidate texts checked before any forward pass
            ok = accept(row, substituted(ids, row, pos[row, slot], sub[row, slot]))
            valid[row[~ok], slot[~ok]] = False
            row, slot = row[ok], slot[ok]
        logits = substitution_logits(self.model, ids, row, pos[row, slot], sub[row, slot], hidden)
        cand_probs, cand_score = ranked_candidates(self.goal, logits, labels[row], self.settings.objective)
        probs = torch.zeros(b, n_cand, logits.shape[1], device=ids.device)
        probs[row, slot] = cand_probs
        score = torch.full((b, n_cand), -float("inf"), device=ids.device)
        score[row, slot] = cand_score
        choice = score.argmax(1)
        rows = torch.arange(b, device=ids.device)
        best = torch.where(valid[rows, choice], sub[rows, choice], torch.full_like(choice, -1))
        checked = probs[rows, choice]
        # a row with no candidate at all closes every position it scored, so it cannot stall
        tried = torch.where(valid.any(1, keepdim=True), pos[rows, choice][:, None], top_pos)
        return tried, best, valid.sum(1), checked

    @torch.no_grad()
    def run(self, rows: list[list[int]], labels: list[int], keys: list[int], accept: Accept | None = None
            ) -> list[Outcome]:
        """Attack a batch of id sequences (already truncated) with their labels and stable keys; ``accept``
        (rows of this batch, candidate ids, changed positions) may refuse candidate texts.

        At most ``settings.active_rows`` rows (None: all) are stepped at once: as rows finish, the next rows of the
        batch take their place, so that a batch's tail of slow rows does not leave the device idle.

        The bookkeeping stays on the device, a row's fate a code (``ENDINGS``), apart from the count of each row's
        forward and backward passes, which the host keeps as it lists the rows of each pass (greedy's verifying
        forward passes are counted on the device). The loop itself reads back which
        rows go on once per pass (and, for greedy, which reached the goal in its verified step): on a GPU each read
        waits for the work queued before it, so the host lists the rows of the next pass while the device runs this
        one."""
        n = len(rows)
        dev = self.device
        padded = pad_ids(rows)
        widths = (padded != 0).sum(1).numpy()  # each row's length, known to the host: a pass's padding
        original = padded.to(dev)
        ids = original.clone()
        y = torch.tensor(labels, device=dev)
        lengths = torch.as_tensor(widths, device=dev)
        open_positions = self.changeable(ids)
        budget = word_budget(lengths, self.settings.max_change, self.settings.min_words)
        spent_ending = torch.where(budget == 0, NO_BUDGET, BUDGET_SPENT)  # a row's ending once its budget is spent
        priority = row_priorities([len(r) for r in rows], keys, self.settings.seed, ids.shape[1]).to(dev)
        # forward and backward passes, counted on the host, which lists each pass's rows; greedy's verifying
        # forward passes, per row, are counted on the device
        forwards, backwards = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
        verifying = torch.zeros(n, dtype=torch.long, device=dev)
        ending = torch.full((n,), RUNNING, dtype=torch.long, device=dev)
        probs_before = torch.zeros(n, self.model.cfg.num_classes, device=dev)
        probs_after = torch.zeros_like(probs_before)
        applies = self.goal.applies(y).cpu().numpy()
        if not applies.all():  # these rows are only classified: one forward pass
            skipped = to_device(np.flatnonzero(~applies), dev)
            probs = torch.softmax(evaluate(self.model, ids[skipped]).float(), -1)
            probs_before[skipped] = probs
            probs_after[skipped] = probs
            forwards[~applies] = 1
            ending[skipped] = GOAL_NOT_APPLICABLE
        width = self.settings.active_rows or n
        waiting = np.flatnonzero(applies)  # rows not stepped yet, in the batch's order
        listed, waiting = waiting[:width], waiting[width:]  # the rows of a pass, on the host
        carried = 0  # the rows before it had a pass already
        with attack_mode(self.model), torch.autocast(dev.type, dtype=torch.bfloat16, enabled=self.settings.bf16):
            while len(listed):
                # one upload: the rows, and the ending of each if its goal holds now (the rows from ``carried`` on
                # are the texts as given)
                reached_ending = np.where(np.arange(len(listed)) < carried, REACHED, HELD_BEFORE)
                active, reached_ending = to_device(np.stack([listed, reached_ending]), dev)
                cols = max(1, int(widths[listed].max()))  # the active rows' padding, no wider
                current, labels_active = ids[active, :cols], y[active]
                spent = (current != original[active, :cols]).sum(1) >= budget[active]
                stuck = ~open_positions[active].any(1)
                log_probs, grad, hidden, keep = self._pass(current, labels_active, ~(spent | stuck), carried)
                forwards[listed] += 1
                probs = log_probs.exp()
                probs_after[active] = probs
                probs_before[active[carried:]] = probs[carried:]  # the texts as given, classified
                done = self.goal.done(probs, labels_active)
                ending[active] = torch.where(done, reached_ending, torch.where(
                    spent, spent_ending[active], torch.where(stuck, NOTHING_LEFT, RUNNING)))
                going = keep.cpu().numpy()  # the pass's read-back
                listed = listed[going]
                backwards[listed] += 1
                kept = to_device(np.flatnonzero(going), dev)
                active, grad = active[kept], grad[kept]
                hidden = None if hidden is None else hidden[kept]
                if len(listed):  # one substitution in each row that goes on
                    step_ids = ids[active, :cols]
                    avail = open_positions[active, :cols]
                    accept_active = None if accept is None else partial(self._accept, accept, active,
                                                                        original[:, :cols])
                    if self.settings.method == "papernot":
                        tried, sub, _, checked = self._papernot_step(step_ids, grad, avail, priority[active, :cols],
                                                                     accept_active)
                    else:
                        tried, sub, extra, checked = self._greedy_step(step_ids, grad, avail, y[active], hidden,
                                                                       accept_active)
                        verifying[active] += extra
                    ok, at = sub >= 0, tried[:, 0]
                    ids[active, at] = torch.where(ok, sub, step_ids.gather(1, at[:, None]).squeeze(1))
                    open_positions[active[:, None], tried] = False  # each position is tried once, replaced or not
                    if checked is not None:  # greedy's verifying forward pass shows which rows reached the goal
                        reached = ok & self.goal.done(checked, y[active])
                        ending[active] = torch.where(reached, REACHED, ending[active])
                        probs_after[active] = torch.where(reached[:, None], checked, probs_after[active])
                        listed = listed[~reached.cpu().numpy()]
                taken, waiting = waiting[: width - len(listed)], waiting[width - len(listed):]
                listed, carried = np.concatenate([listed, taken]), len(listed)
        return self._outcomes(rows, original, ids, ending, probs_before, probs_after, forwards, backwards, verifying)

    @staticmethod
    def _accept(accept: Accept, active: torch.Tensor, original: torch.Tensor, rows: torch.Tensor,
                candidates: torch.Tensor) -> torch.Tensor:
        """``accept`` on candidates of the active ``rows``, in float32 even under bf16: it decides as the records'
        own check will (the similarity a record keeps is measured in float32)."""
        with torch.autocast(candidates.device.type, enabled=False):
            return accept(active[rows], candidates, candidates != original[active[rows]])

    def _pass(self, ids: torch.Tensor, labels: torch.Tensor, may_continue: torch.Tensor, carried: int):
        """``_log_probs_and_grad``; under bf16 (the attack's autocast) the rows from ``carried`` on, the texts as given,
        are classified in float32 all the same (their probabilities before, and which goals already hold)."""
        if not self.settings.bf16:
            return self._log_probs_and_grad(ids, labels, may_continue)
        parts = []
        for rows, half in ((slice(0, carried), True), (slice(carried, len(ids)), False)):
            if rows.stop > rows.start:
                with torch.autocast(ids.device.type, dtype=torch.bfloat16, enabled=half):
                    parts.append(self._log_probs_and_grad(ids[rows], labels[rows], may_continue[rows]))
        if len(parts) == 1:
            return parts[0]
        return tuple(None if part[0] is None else torch.cat(part) for part in zip(*parts))

    def _outcomes(self, rows: list[list[int]], original: torch.Tensor, ids: torch.Tensor, ending: torch.Tensor,
                  probs_before: torch.Tensor, probs_after: torch.Tensor, forwards: np.ndarray, backwards: np.ndarray,
                  verifying: torch.Tensor) -> list[Outcome]:
        """The batch's outcomes, read back from the device in one go."""
        lengths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
        changed = (ids != original).cpu().numpy() & (np.arange(ids.shape[1]) < lengths[:, None])
        row_of, position = np.nonzero(changed)  # row by row, positions ascending
        positions = np.split(position, np.cumsum(np.bincount(row_of, minlength=len(rows)))[:-1])
        ids, ending = ids.cpu().tolist(), ending.cpu().tolist()
        before, after = probs_before.cpu().tolist(), probs_after.cpu().tolist()
        forwards, backwards = (forwards + verifying.cpu().numpy()).tolist(), backwards.tolist()
        outcomes = []
        for r, row in enumerate(rows):
            status, reason = ENDINGS[ending[r]]
            outcomes.append(Outcome(status, ids[r][: len(row)], positions[r].tolist(),
                                    before[r], after[r], forwards[r], backwards[r],
                                    self.goal.skip_reason if ending[r] == GOAL_NOT_APPLICABLE else reason))
        return outcomes
