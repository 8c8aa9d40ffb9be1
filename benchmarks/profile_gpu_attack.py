"""Where the GPU's time goes in the faithful papernot attack: torch.profiler over one batch of IMDB test
reviews of at most 100 words (the IMDB LSTM of benchmarks/bench_attack.py), the top kernels by GPU time
and the top operations by CPU time (waits for the GPU show as cudaStreamSynchronize).

    python benchmarks/profile_gpu_attack.py [--reviews 1200]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from advtext.cli import split_texts  # noqa: E402
from advtext.goals import Misclassification  # noqa: E402
from advtext.text.attack import AttackSettings, SequenceAttack  # noqa: E402
from advtext.text.classifier import TextClassifier  # noqa: E402
from advtext.text.corpora import load_corpus  # noqa: E402
from advtext.text.dictionary import build_dictionary  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--reviews", type=int, default=1200)
    args = ap.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA GPU visible to this torch")
    clf = TextClassifier.load(ROOT / "runs" / "bench" / "row0", "cuda")
    texts = split_texts(load_corpus("imdb"), "test", 100, "imdb")[0][: args.reviews]  # as `advtext attack` reads them
    rows = [r[: clf.max_len] for r in clf.token_ids(texts)]
    labels = clf.predict_proba(texts).argmax(-1).tolist()
    attack = SequenceAttack(clf.model, Misclassification(), build_dictionary("vocab", clf.vocab),
                            AttackSettings(method="papernot"))
    attack.run(rows[:64], labels[:64], list(range(64)))  # warm-up
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        start = time.perf_counter()
        attack.run(rows, labels, list(range(len(rows))))
        torch.cuda.synchronize()
        seconds = time.perf_counter() - start
    print(f"{len(rows)} reviews in {seconds:.2f} s under the profiler")
    print(prof.key_averages().table(sort_by="cuda_time_total", row_limit=15, max_name_column_width=50))
    print(prof.key_averages().table(sort_by="cpu_time_total", row_limit=8, max_name_column_width=50))


if __name__ == "__main__":
    main()
