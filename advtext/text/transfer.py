"""Transfer attacks: adversarial texts crafted on a substitute the attacker owns, measured on the target.

* ``--threat transfer:RUN``: the substitute is a run of the attacker's (the "architecture only" and
  "training data only" adversaries of Papernot et al. 2016, by a substitute of another architecture or
  trained on other data);
* ``--threat samples:N``: the attacker has only input/label pairs: N texts of its own labelled by the
  target (N queries), on which it trains an LSTM substitute (Papernot et al. 2017's practical black-box
  attack, without their Jacobian-based augmentation).

The substitute's records are kept (and resumed) beside the output; the target sees each original and
each crafted text once: two queries per text, besides the labels that trained a ``samples`` substitute.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from advtext.errors import AdvtextError
from advtext.goals import Goal
from advtext.text.attack import FAILED, SKIPPED, SUCCEEDED
from advtext.text.classifier import TextClassifier
from advtext.text.heldout import texts_fingerprint
from advtext.text.run_attack import argmax, rounded_probs
from advtext.text.train import fit_text, new_text_classifier
from advtext.training import TrainSettings, accuracy

TRANSFER_QUERIES = 2


def parse_threat(spec: str) -> tuple[str, str | int | None]:
    """``white-box``, ``oracle``, ``transfer:RUN`` or ``samples:N`` as (kind, substitute run or label count)."""
    if spec in ("white-box", "oracle"):
        return spec, None
    kind, _, value = spec.partition(":")
    if kind == "transfer" and value:
        return kind, value
    if kind == "samples":
        if not (value.isascii() and value.isdigit()) or int(value) < 1:
            raise AdvtextError(f"--threat {spec}: give the number of texts the target labels, e.g. samples:3200")
        return kind, int(value)
    raise AdvtextError(f"unknown threat {spec!r}: use white-box, oracle, transfer:RUN (a substitute run you own) or "
                       "samples:N (a substitute trained on N texts the target labels)")


def substitute_run_dir(out: Path) -> Path:
    """Where a ``samples`` substitute is trained and kept: beside ``out``."""
    return out.with_name(out.stem + ".substitute-run")


def substitute_from_samples(target: TextClassifier, pool: Sequence[str], n: int, seed: int, run_dir: Path,
                            log: Callable[[str], None]) -> TextClassifier:
    """An LSTM trained on ``n`` texts drawn (seeded) from the attacker's ``pool``, labelled by the target (90% to
    train, 10% to stop early); kept in ``run_dir`` and reused when it was trained on the same draw."""
    if n > len(pool):
        raise AdvtextError(f"samples:{n} asks for more texts than the attacker's pool holds ({len(pool)} training "
                           "texts of the corpus): ask for fewer")
    if n < target.num_classes:
        raise AdvtextError(f"samples:{n} gives fewer labelled texts than the target has classes "
                           f"({target.num_classes}): ask for more")
    draw = random.Random(seed).sample(range(len(pool)), n)
    texts = [pool[i] for i in draw]
    identity = {"target_weights_sha256": target.fingerprint, "n": n, "seed": seed,
                "texts_sha256": texts_fingerprint(texts, [0] * n)}
    if (run_dir / "model.safetensors").exists():
        substitute = TextClassifier.load(run_dir, target.device)
        if substitute.info.get("samples") != identity:
            raise AdvtextError(f"{run_dir} holds a substitute trained on another draw or target: delete it, or "
                               "choose another --out")
        log(f"reusing the substitute in {run_dir}")
        return substitute
    labels = target.predict_proba(texts).argmax(-1).tolist()
    if len(set(labels)) < 2:
        raise AdvtextError(f"the target labelled all {n} texts as one class: a substitute cannot learn from that; "
                           "ask for more texts (samples:N)")
    cut = max(1, n // 10)
    substitute = new_text_classifier(texts[cut:], target.num_classes, target.device, max_len=target.max_len or 100,
                                     seed=seed)
    log(f"training an LSTM substitute on {n - cut} texts the target labelled ({cut} to stop early)")
    fit_text(substitute, texts[cut:], labels[cut:], texts[:cut], labels[:cut], TrainSettings(seed=seed), log,
             progress_file=None)
    substitute.save(run_dir, samples=identity, agreement=accuracy(substitute, texts[:cut], labels[:cut]))
    return TextClassifier.load(run_dir, target.device)


def substitute_file(out: Path) -> Path:
    """Where the substitute's own records of a transfer attack are kept: beside ``out``."""
    return out.with_name(out.stem + ".substitute" + out.suffix)


def check_substitute(target: TextClassifier, substitute: TextClassifier, run: str) -> None:
    if substitute.num_classes != target.num_classes:
        raise AdvtextError(f"transfer:{run} has {substitute.num_classes} classes but the target has "
                           f"{target.num_classes}: a substitute must be trained on the target's label set")


def transfer_records(target: TextClassifier, goal: Goal, records: list[dict]) -> list[dict]:
    """The substitute's records as the target sees them: its predictions on each original and crafted text,
    the status by the goal on the target (``substitute_status`` keeps the substitute's), two queries each."""
    if not records:
        return []
    before = target.predict_proba([r["original"] for r in records])
    after = target.predict_proba([r["adversarial"] for r in records])
    labels = torch.tensor([r["label"] for r in records])
    applies, held, reached = goal.applies(labels), goal.done(before, labels), goal.done(after, labels)
    out = []
    for k, r in enumerate(records):
        if not applies[k]:
            status, reason = SKIPPED, goal.skip_reason
        elif held[k]:
            status, reason = SKIPPED, "the goal already holds on the target before the attack"
        elif reached[k]:
            status, reason = SUCCEEDED, ""
        else:
            status, reason = FAILED, ("the text crafted on the substitute does not fool the target"
                                      if r["status"] == SUCCEEDED else f"on the substitute: {r['reason']}")
        b, a = rounded_probs(before[k].tolist()), rounded_probs(after[k].tolist())
        record = {**r, "status": status, "reason": reason, "substitute_status": r["status"],
                  "pred_before": argmax(b), "probs_before": b, "pred_after": argmax(a), "probs_after": a,
                  "queries": TRANSFER_QUERIES}
        if status == SKIPPED:  # nothing is sent to the target but the original: no change, one query
            unchanged = {k: None if v is None else 0 for k, v in r["quality"].items()}
            if r["quality"].get("similarity") is not None:
                unchanged["similarity"] = 1.0
            record.update(adversarial=r["original"], changes=[], words_changed=0, pred_after=record["pred_before"],
                          probs_after=b, queries=1, quality=unchanged)
        out.append(record)
    return out
