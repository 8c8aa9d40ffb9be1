"""Training figures for the README: test accuracy of each model and seconds per epoch.

    python benchmarks/bench_train.py [--quick]

Each row is one `advtext train` command (printed), run in a subprocess; the table is printed as
markdown and written to benchmarks/results/train.md.
"""

from __future__ import annotations

import argparse
import json

from commands import ROOT, advtext

RUNS = ROOT / "runs" / "bench"

ROWS = [
    # name, train arguments, evaluation (max words or None), target
    ("IMDB LSTM, trained on reviews truncated to 100 tokens; test reviews of <= 100 words",
     ["--corpus", "imdb", "--max-len", "100", "--epochs", "4"], 100, ">= 87% (peers' plain loop 87.9%)"),
    ("IMDB LSTM, max-len 400, GloVe-initialised, full test set",
     ["--corpus", "imdb", "--max-len", "400", "--epochs", "4", "--glove"], None, ">= 88% (TextAttack lstm-imdb 88.3%)"),
    ("Rotten Tomatoes LSTM", ["--corpus", "rotten-tomatoes", "--max-len", "60", "--epochs", "4"], None,
     ">= 76% (TextAttack lstm-mr 78.1%)"),
    ("Rotten Tomatoes word CNN (Kim 2014), GloVe-initialised",
     ["--corpus", "rotten-tomatoes", "--model", "cnn", "--max-len", "60", "--epochs", "4", "--dropout", "0.5",
      "--glove", "--vocab-size", "8000"], None, ">= 76% (TextAttack cnn-mr 76.8%)"),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, nargs="*", help="only these rows (0-based)")
    args = ap.parse_args()
    lines = ["| model and setting | test accuracy | target | seconds per epoch | epochs run |", "|---|---|---|---|---|"]
    for k, (name, train_args, max_words, target) in enumerate(ROWS):
        if args.rows is not None and k not in args.rows:
            continue
        run = RUNS / f"row{k}"
        advtext("train", *train_args, "--out", str(run), "--overwrite")
        config = json.loads((run / "config.json").read_text())
        eval_args = ["eval", str(run), "--corpus", train_args[1], "--json"]
        if max_words:
            eval_args += ["--max-words", str(max_words)]
        report = json.loads(advtext(*eval_args))
        epochs = config["history"]
        per_epoch = sum(e["seconds"] for e in epochs) / len(epochs)
        lines.append(f"| {name} | {100 * report['accuracy']:.2f}% (n={report['n']}) | {target} | "
                     f"{per_epoch:.1f} | {len(epochs)} |")
        print(lines[-1], flush=True)
    table = "\n".join(lines)
    print(table)
    out = ROOT / "benchmarks" / "results" / "train.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(table + "\n")


if __name__ == "__main__":
    main()
