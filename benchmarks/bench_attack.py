"""Sequence-attack figures for the README (Papernot et al. 2016 reproduction, improved mode,
constrained setting, throughput against an unbatched loop, peak memory).

    python benchmarks/bench_attack.py --run runs/bench/row0 [--n 2000] [--loop-n 200]

The attack rows are `advtext attack` commands (printed) run in subprocesses on IMDB *training*
reviews of at most 100 words that the model classifies correctly, as in the paper; the throughput
row runs a plain one-sentence-at-a-time loop of the same algorithm and the batched attack in this
process, on the same reviews. Writes benchmarks/results/attack.md.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from advtext.goals import Misclassification  # noqa: E402
from advtext.metrics import attack_summary  # noqa: E402
from advtext.text.attack import AttackSettings, SequenceAttack  # noqa: E402
from advtext.text.classifier import TextClassifier  # noqa: E402
from advtext.text.dictionary import build_dictionary  # noqa: E402
from advtext.text.run_attack import read_attack_file  # noqa: E402

OUT = ROOT / "runs" / "bench" / "attacks"
COMMON = ["--corpus", "imdb", "--split", "train", "--max-words", "100", "--only-correct", "--seed", "0"]


def attack_row(run: str, n: int, name: str, extra: list[str]) -> tuple[dict, float, float]:
    """Run one `advtext attack` and return its summary, wall seconds and the child's peak RSS (MiB)."""
    out = OUT / f"{name}.jsonl"
    out.unlink(missing_ok=True)
    args = ["attack", run, *COMMON, "--n", str(n), *extra, "--out", str(out)]
    print("$ advtext " + " ".join(args), flush=True)
    start = time.perf_counter()
    subprocess.run([sys.executable, str(ROOT / "cli.py"), *args], check=True, capture_output=True)
    wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return attack_summary(read_attack_file(out)[1]), wall, peak


def unbatched_papernot(model, vocab_size: int, ids: list[int], label: int, rng: torch.Generator) -> tuple[bool, int]:
    """The plain loop: one sentence, one position and one gradient call at a time (the baseline)."""
    table = model.embedding.weight.detach()
    x = torch.tensor([ids])
    banned = torch.zeros(vocab_size, dtype=torch.bool)
    banned[:2] = True
    untried = list(range(len(ids)))
    for _ in range(len(ids) + 1):
        emb = table[x].clone().requires_grad_(True)
        log_p = torch.log_softmax(model.forward_embeddings(emb, x != 0), -1)[0]
        if int(log_p.argmax()) != label:
            return True, int((x[0] != torch.tensor(ids)).sum())
        if not untried:
            return False, 0
        i = untried.pop(int(torch.randint(len(untried), (1,), generator=rng)))
        (grad,) = torch.autograd.grad(-log_p[label], emb)
        dist = (torch.sign(table - table[x[0, i]]) - torch.sign(grad[0, i])).abs().sum(1)
        dist[banned] = float("inf")
        dist[x[0, i]] = float("inf")
        x[0, i] = int(dist.argmin())
    return False, 0


def throughput(run: str, loop_n: int) -> list[str]:
    """Batched papernot mode against the unbatched loop, same model, same reviews, one process."""
    clf = TextClassifier.load(run, "cpu")
    records = read_attack_file(OUT / "papernot.jsonl")[1]  # written grouped by length: sample across it
    records = random.Random(0).sample(records, min(loop_n, len(records)))
    texts = [r["original"] for r in records]
    labels = [r["label"] for r in records]
    rows = clf.token_ids(texts)
    model = clf.model
    for p in model.parameters():
        p.requires_grad_(False)
    rng = torch.Generator().manual_seed(0)
    start = time.perf_counter()
    loop = [unbatched_papernot(model, len(clf.vocab), r, y, rng) for r, y in zip(rows, labels)]
    loop_s = time.perf_counter() - start
    attack = SequenceAttack(model, Misclassification(), build_dictionary("vocab", clf.vocab),
                            AttackSettings(method="papernot"))
    attack.run(rows[:8], labels[:8], list(range(8)))  # compile the numba kernel outside the timing
    start = time.perf_counter()
    batched = attack.run(rows, labels, list(range(len(rows))))
    batched_s = time.perf_counter() - start
    loop_ok = [c for ok, c in loop if ok]
    ok = [len(o.changed) for o in batched if o.status == "succeeded"]
    return [
        f"| unbatched loop (one sentence at a time) | {len(rows)} | {100 * len(loop_ok) / len(rows):.1f}% | "
        f"{sum(loop_ok) / max(1, len(loop_ok)):.2f} | {len(rows) / loop_s:.1f} | 1.0x |",
        f"| advtext papernot, batched | {len(rows)} | {100 * len(ok) / len(rows):.1f}% | "
        f"{sum(ok) / max(1, len(ok)):.2f} | {len(rows) / batched_s:.1f} | {loop_s / batched_s:.1f}x |",
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--run", default=str(ROOT / "runs" / "bench" / "row0"))
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--loop-n", type=int, default=200)
    a = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    settings = [
        ("papernot", "papernot, D = whole vocabulary, punctuation allowed (the paper's D)", ["--method", "papernot"]),
        ("greedy", "greedy (saliency + HotFlip, verified), D = whole vocabulary, punctuation protected (its default)",
         ["--method", "greedy"]),
        ("constrained-wordnet", "greedy, WordNet synonyms, stopwords and punctuation kept, <= 20% of words",
         ["--method", "greedy", "--dictionary", "wordnet", "--protect-stopwords", "--max-change", "0.2"]),
        ("constrained-glove", "greedy, GloVe cosine >= 0.7, stopwords and punctuation kept, <= 20% of words",
         ["--method", "greedy", "--dictionary", "glove:0.7", "--protect-stopwords", "--max-change", "0.2"]),
    ]
    lines = ["| setting | N | success rate | accuracy under attack | mean words changed | % words changed | "
             "mean length | forward / backward passes per text | sentences/s (whole command) | s/sentence (attack) | "
             "peak RSS MiB |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, label, extra in settings:
        s, wall, peak = attack_row(a.run, a.n, name, extra)
        lines.append(f"| {label} | {s['records']} | {100 * s['success_rate']:.2f}% | "
                     f"{100 * s['accuracy_under_attack']:.2f}% | {s['words_changed']['mean']:.2f} | "
                     f"{s['percent_words_changed']['mean']:.2f} | {s['mean_length']:.2f} | "
                     f"{s['forwards_per_sentence']:.2f} / {s['backwards_per_sentence']:.2f} | "
                     f"{s['records'] / wall:.1f} | {s['seconds_per_sentence']:.4f} | {peak:.0f} |")
        print(lines[-1], flush=True)
    lines += ["", "| throughput, papernot mode, same reviews, one process | N | success | mean words changed | "
                  "sentences/s | speed-up |", "|---|---|---|---|---|---|"]
    lines += throughput(a.run, a.loop_n)
    lines += ["", f"torch threads: {torch.get_num_threads()}; CPU only; peak RSS is the largest of the attack "
                  "subprocesses so far (cumulative maximum)."]
    table = "\n".join(lines)
    print(table)
    (ROOT / "benchmarks" / "results").mkdir(parents=True, exist_ok=True)
    (ROOT / "benchmarks" / "results" / "attack.md").write_text(table + "\n")
    print(json.dumps({"done": True}))


if __name__ == "__main__":
    main()
