"""Transformer-target figures for the README: MiniLM fine-tuned on Rotten Tomatoes, then attacked.

    python benchmarks/bench_transformer.py [--n 500] [--epochs 2]

Every row is one `advtext` command (printed), run in a subprocess: `train --model minilm`, `eval`,
then `attack` on the same test sentences that the model classifies correctly, with and without the
label-preserving constraints (`--min-similarity 0.84`, `--polarity-guard`). Writes
benchmarks/results/transformer.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import torch
from commands import ROOT, advtext, pct

sys.path.insert(0, str(ROOT))

from advtext.metrics import attack_summary  # noqa: E402
from advtext.text.run_attack import read_attack_file  # noqa: E402

RUN = ROOT / "runs" / "bench-transformer" / "rt-minilm"
OUT = ROOT / "runs" / "bench-transformer" / "attacks"
SETTINGS = [  # name, attack arguments
    ("greedy, whole vocabulary", ["--method", "greedy", "--dictionary", "vocab"]),
    ("papernot, whole vocabulary", ["--method", "papernot", "--dictionary", "vocab"]),
    ("greedy, WordNet, stopwords kept, <= 20% of words",
     ["--method", "greedy", "--dictionary", "wordnet", "--protect-stopwords", "--max-change", "0.2"]),
    ("papernot, WordNet, stopwords kept, <= 20% of words",
     ["--method", "papernot", "--dictionary", "wordnet", "--protect-stopwords", "--max-change", "0.2"]),
    ("greedy, WordNet, <= 20%, similarity >= 0.84, polarity guard",
     ["--method", "greedy", "--dictionary", "wordnet", "--protect-stopwords", "--max-change", "0.2",
      "--min-similarity", "0.84", "--polarity-guard"]),
    ("greedy, whole vocabulary, similarity >= 0.84, polarity guard",
     ["--method", "greedy", "--dictionary", "vocab", "--min-similarity", "0.84", "--polarity-guard"]),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=500, help="test sentences attacked")
    ap.add_argument("--epochs", type=int, default=2)
    args = ap.parse_args()
    if not (RUN / "model.safetensors").exists():
        advtext("train", "--corpus", "rotten-tomatoes", "--model", "minilm", "--max-len", "60", "--epochs",
                str(args.epochs), "--batch-size", "32", "--out", str(RUN))
    history = json.loads((RUN / "config.json").read_text())["history"]
    report = json.loads(advtext("eval", str(RUN), "--corpus", "rotten-tomatoes", "--json"))
    per_epoch = sum(e["seconds"] for e in history) / len(history)
    lines = ["| model | test accuracy | seconds per epoch | epochs |", "|---|---|---|---|",
             f"| all-MiniLM-L6-v2 + classification head, fine-tuned on Rotten Tomatoes (max 60 words) | "
             f"{pct(report['accuracy'])} (n={report['n']}) | {per_epoch:.0f} | {len(history)} |", "",
             f"Attacks on {args.n} test sentences it classifies correctly:", "",
             "| attack | success rate | accuracy under attack | words changed (mean) | % words changed | "
             "mean similarity | successes with a polarity break | forward / backward passes | s/sentence |",
             "|---|---|---|---|---|---|---|---|---|"]
    OUT.mkdir(parents=True, exist_ok=True)
    for k, (name, extra) in enumerate(SETTINGS):
        out = OUT / f"setting{k}.jsonl"
        out.unlink(missing_ok=True)
        start = time.perf_counter()
        advtext("attack", str(RUN), "--corpus", "rotten-tomatoes", "--split", "test", "--only-correct", "--n",
                str(args.n), "--batch-size", "64", *extra, "--out", str(out))
        print(f"  {time.perf_counter() - start:.0f} s", flush=True)
        s = attack_summary(read_attack_file(out)[1])
        q = s["quality"]
        lines.append(f"| {name} | {pct(s['success_rate'])} | {pct(s['accuracy_under_attack'])} | "
                     f"{s['words_changed']['mean'] or 0:.2f} | {s['percent_words_changed']['mean'] or 0:.1f} | "
                     f"{q['mean_similarity'] or 0:.3f} | {pct(q['texts_with_polarity_break'])} | "
                     f"{s['forwards_per_sentence']:.1f} / {s['backwards_per_sentence']:.1f} | "
                     f"{s['seconds_per_sentence']:.3f} |")
        print(lines[-1], flush=True)
    lines += ["", f"CPU only, torch threads: {torch.get_num_threads()}. Similarity: cosine of all-MiniLM-L6-v2 "
              "sentence embeddings between each adversarial text and its original, over successes."]
    table = "\n".join(lines)
    print(table)
    (ROOT / "benchmarks" / "results" / "transformer.md").write_text(table + "\n")


if __name__ == "__main__":
    main()
