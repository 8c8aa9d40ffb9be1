"""Refilling a batch as its texts finish (`advtext attack --active-rows`): how many batched passes papernot's
attack runs, and its throughput, with and without it, on one device.

    python benchmarks/bench_active_rows.py [--device cpu|cuda] [--n 2400]

The IMDB LSTM of benchmarks/bench_attack.py (runs/bench/row0), IMDB test reviews of at most 100 words, the
faithful papernot attack with the whole vocabulary, batches planned as `advtext attack` plans them (similar
lengths together). A batch runs until its slowest text is done; most texts finish in a few steps, so later
passes carry few rows. With --active-rows R at most R texts are stepped at once and finished ones make room for
the batch's next texts: fewer passes, each fuller. On a GPU a pass with few rows should cost nearly as much as
a full one, so the count of passes should set the time there; on a CPU the cost follows the rows.
"Passes" counts the attack's batched forward and backward passes (each followed by one substitution step);
the texts' changes are the same in every configuration (a column checks it). Writes its table to
benchmarks/results/active_rows.md under a heading naming the device (replacing that device's last one).
"""

from __future__ import annotations

import argparse
import sys
import time

import torch
from commands import ROOT, pct, write_device_section

sys.path.insert(0, str(ROOT))

from advtext.cli import split_texts  # noqa: E402
from advtext.goals import SUCCEEDED, Misclassification  # noqa: E402
from advtext.text.attack import AttackSettings, SequenceAttack  # noqa: E402
from advtext.text.classifier import TextClassifier  # noqa: E402
from advtext.text.corpora import load_corpus  # noqa: E402
from advtext.text.dictionary import build_dictionary  # noqa: E402
from advtext.text.run_attack import attack_batch, batch_plan  # noqa: E402

RUN = ROOT / "runs" / "bench" / "row0"
RESULTS = ROOT / "benchmarks" / "results" / "active_rows.md"


def timed_attack(clf: TextClassifier, texts: list[str], rows: list[list[int]], labels: list[int], batch: int,
                 active: int | None) -> tuple[dict, int, float]:
    """Outcomes by text index, the number of batched passes, and the attack's seconds."""
    attack = SequenceAttack(clf.model, Misclassification(), build_dictionary("vocab", clf.vocab),
                            AttackSettings(method="papernot", active_rows=active))
    passes = 0
    counted = attack._log_probs_and_grad

    def counting(*args, **kwargs):
        nonlocal passes
        passes += 1
        return counted(*args, **kwargs)

    attack._log_probs_and_grad = counting
    outcomes = {}
    sync = torch.cuda.synchronize if clf.device.type == "cuda" else (lambda: None)
    sync()
    start = time.perf_counter()
    for plan in batch_plan(texts, clf.max_len, batch):
        outcomes.update(zip(plan, attack.run([rows[i] for i in plan], [labels[i] for i in plan], plan)))
    sync()
    return outcomes, passes, time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--n", type=int, default=2400, help="IMDB test reviews of <= 100 words (2,412 exist)")
    args = ap.parse_args()
    if not (RUN / "model.safetensors").exists():
        raise SystemExit(f"{RUN.relative_to(ROOT)} not found: run benchmarks/bench_attack.py first")
    clf = TextClassifier.load(RUN, args.device)
    texts = split_texts(load_corpus("imdb"), "test", 100, "imdb")[0][: args.n]  # as `advtext attack` reads them
    rows = [r[: clf.max_len] for r in clf.token_ids(texts)]
    labels = clf.predict_proba(texts).argmax(-1).tolist()
    width = attack_batch(clf)
    timed_attack(clf, texts[:64], rows[:64], labels[:64], 64, None)  # warm-up: kernels compiled, caches filled
    configs = [(f"batches of {width}, every text active", width, None),
               (f"one batch of {len(texts)}, {width} active (--active-rows {width})", len(texts), width),
               (f"one batch of {len(texts)}, every text active", len(texts), None)]
    lines = ["| configuration | reviews | passes | success | words changed | attack seconds | reviews/s | "
             "texts with the first row's changes |", "|---|---|---|---|---|---|---|---|"]
    first = None
    for name, batch, active in configs:
        outcomes, passes, seconds = timed_attack(clf, texts, rows, labels, batch, active)
        changes = [(outcomes[i].changed, outcomes[i].ids) for i in range(len(texts))]  # where, and to what
        first = first or changes
        attacked = [o for o in outcomes.values() if o.status != "skipped"]
        succeeded = [o for o in attacked if o.status == SUCCEEDED]
        lines.append(f"| {name} | {len(texts)} | {passes} | {pct(len(succeeded) / len(attacked))} | "
                     f"{sum(len(o.changed) for o in succeeded) / len(succeeded):.2f} | {seconds:.2f} | "
                     f"{len(texts) / seconds:,.0f} | {sum(a == b for a, b in zip(first, changes))} |")
        print(lines[-1], flush=True)
    write_device_section(RESULTS, "Refilling batches as texts finish (--active-rows)", args.device, lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
