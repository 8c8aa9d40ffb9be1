"""Hardening figures for the README: adversarial training against attacks seen and unseen in training.

    python benchmarks/bench_harden.py [--corpora rotten-tomatoes imdb] [--n 1000]

Per corpus, every row is one command (printed) run in a subprocess with the same seed and epochs:
the baseline `advtext train`, then `advtext harden` with each method (and the discrete method's
off-line schedule), trained from scratch like the baseline. One `advtext robustness` call then
measures all runs on the same test texts: clean accuracy, accuracy under the training attack
(greedy, WordNet) and under attacks not trained on (papernot with WordNet; greedy with GloVe minus
antonyms; greedy and papernot with the whole vocabulary), all with stopwords kept and at most 20% of
words changed, and the baseline's adversarial texts transferred. Writes benchmarks/results/harden.md.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from commands import ROOT, advtext, pct

RUNS = ROOT / "runs" / "bench-harden"

CORPORA = {
    # name: training arguments shared by every row, robustness arguments
    "rotten-tomatoes": (["--corpus", "rotten-tomatoes", "--max-len", "60", "--epochs", "4"],
                        ["--corpus", "rotten-tomatoes"]),
    "imdb": (["--corpus", "imdb", "--max-len", "100", "--epochs", "4"],
             ["--corpus", "imdb", "--max-words", "100"]),
}
ROWS = [  # name, command, extra arguments
    ("baseline (normal training)", "train", []),
    ("discrete, on-line (default)", "harden", ["--method", "discrete"]),
    ("discrete, off-line (per epoch)", "harden", ["--method", "discrete", "--schedule", "offline"]),
    ("embedding (Miyato, eps 0.5)", "harden", ["--method", "embedding"]),
    ("both", "harden", ["--method", "both"]),
]
TRAINED_ON = "greedy/wordnet"
NOTE = ("punctuation protected for greedy (its default: no mark changed, none and no bare number inserted), "
        "allowed for papernot (the paper's dictionary)")
ATTACKS = [("greedy", "wordnet"), ("papernot", "wordnet"), ("greedy", "glove-safe:0.7"), ("greedy", "vocab"),
           ("papernot", "vocab")]


def bench_corpus(corpus: str, n: int) -> list[str]:
    train_args, eval_args = CORPORA[corpus]
    runs = []
    for k, (_, command, extra) in enumerate(ROWS):
        run = RUNS / corpus / f"row{k}"
        if not (run / "model.safetensors").exists():
            advtext(command, *train_args, *extra, "--out", str(run))
        runs.append(str(run))
    start = time.perf_counter()
    methods = ",".join(dict.fromkeys(m for m, _ in ATTACKS))
    dictionaries = ",".join(dict.fromkeys(d for _, d in ATTACKS))
    result = json.loads(advtext("robustness", *runs, *eval_args, "--n", str(n), "--method", methods,
                                "--dictionary", dictionaries, "--transfer-from", runs[0], "--out",
                                str(RUNS / corpus / "records"), "--plots", str(RUNS / corpus / "plots"), "--json"))
    print(f"robustness: {time.perf_counter() - start:.0f} s", flush=True)
    names = [f"{m}/{d}" for m, d in ATTACKS]
    head = (["training", "clean accuracy (sample / whole test set)"]
            + [f"under {a}" + (" (trained on)" if a == TRAINED_ON else "") for a in names]
            + [f"words to flip, {TRAINED_ON}: successes' mean / median / failures counted",
               f"baseline's {TRAINED_ON} texts: all / its successes", "seconds per epoch", "x clean epoch",
               "epochs run"])
    lines = [f"**{corpus}**, {result['n']} test texts" + (" of <= 100 words" if corpus == "imdb" else "")
             + " (" + NOTE + ")", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    clean_epoch = None
    for (name, _, _), run, figures in zip(ROWS, runs, result["runs"]):
        history = json.loads((Path(run) / "config.json").read_text())["history"]
        per_epoch = sum(e["seconds"] for e in history) / len(history)
        clean_epoch = clean_epoch or per_epoch
        a = figures["attacks"]
        whole = json.loads(advtext("eval", run, *eval_args, "--json"))
        cells = ([name, f"{pct(figures['clean_accuracy'])} / {pct(whole['accuracy'])} (n={whole['n']})"]
                 + [pct(a[x]["accuracy_under_attack"]) for x in names])
        w = a[TRAINED_ON]
        flip = (f"{w['mean_words_changed']:.2f} / {w['median_words_changed']:g} / "
                f"{w['words_to_flip_failures_counted']:.2f}")
        moved = figures["transfer"][TRAINED_ON]
        cells += [flip, f"{pct(moved['accuracy'])} / {pct(moved['accuracy_on_successes'])}", f"{per_epoch:.1f}",
                  f"{per_epoch / clean_epoch:.2f}", str(len(history))]
        lines.append("| " + " | ".join(cells) + " |")
        print(lines[-1], flush=True)
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--corpora", nargs="*", default=list(CORPORA), choices=list(CORPORA))
    ap.add_argument("--n", type=int, default=1000, help="test texts per corpus")
    args = ap.parse_args()
    tables = []
    for corpus in args.corpora:
        tables += bench_corpus(corpus, args.n) + [""]
    text = "\n".join(tables)
    print(text)
    out = ROOT / "benchmarks" / "results" / "harden.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)


if __name__ == "__main__":
    main()
