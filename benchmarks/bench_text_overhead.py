"""The Python that `advtext attack` spends per text around the batched attack: tokenising, encoding, rewriting
the changed words, splitting the rewritten text again for the float32 recheck, reading the outcomes back.

    python benchmarks/bench_text_overhead.py [--n 2400]

On a GPU this work, not the attack, can bound the throughput: it runs once per text on the host whatever the
batch, while the attack's cost is shared by the batch. The IMDB LSTM of benchmarks/bench_attack.py
(runs/bench/row0), IMDB test reviews of at most 100 words, papernot over the whole vocabulary, one batch. Each
piece is timed alone (best of 5, the cyclic garbage collector paused as during an attack). The last row times
the whole per-batch function of `advtext attack` with the attack's answers taken from an earlier run and the
recheck's model replaced by a stub, so that only the Python is left; it includes building the records, which
the records' seconds leave out. Writes its table to benchmarks/results/text_overhead.md under a heading naming
the CPU.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

import torch
from commands import ROOT, write_device_section

sys.path.insert(0, str(ROOT))

from advtext.cli import split_texts  # noqa: E402
from advtext.engine import cyclic_gc_paused  # noqa: E402
from advtext.goals import Misclassification  # noqa: E402
from advtext.text import run_attack  # noqa: E402
from advtext.text.attack import AttackSettings, SequenceAttack, row_priorities  # noqa: E402
from advtext.text.classifier import TextClassifier, pad_ids  # noqa: E402
from advtext.text.corpora import load_corpus  # noqa: E402
from advtext.text.dictionary import build_dictionary  # noqa: E402
from advtext.text.tokenizer import tokenize, words  # noqa: E402

RUN = ROOT / "runs" / "bench" / "row0"
RESULTS = ROOT / "benchmarks" / "results" / "text_overhead.md"


def per_text_ms(work: Callable[[], object], n: int) -> float:
    """Milliseconds per text of ``work`` over ``n`` texts, best of 5."""
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - start)
    return 1e3 * best / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=2400)
    args = ap.parse_args()
    clf = TextClassifier.load(RUN, "cpu")
    texts, labels = split_texts(load_corpus("imdb"), "test", clf.max_len, "imdb")  # as `advtext attack` reads them
    texts, labels = texts[: args.n], labels[: args.n]
    keys = list(range(len(texts)))
    attack = SequenceAttack(clf.model, Misclassification(), build_dictionary("vocab", clf.vocab),
                            AttackSettings(method="papernot", measure_similarity=False))
    tokens = [t[: clf.max_len] for t in map(tokenize, texts)]
    ids = [clf.vocab.encode(t.words) for t in tokens]
    read_back = []  # the arguments of the attack's read-out, kept to time it alone
    reading = attack._outcomes

    def kept_and_read(*tensors):
        read_back.append(tensors)
        return reading(*tensors)

    attack._outcomes = kept_and_read
    print(f"attacking {len(texts)} reviews once on the CPU (its answers are reused below)", flush=True)
    outcomes = attack.run(ids, labels, keys)
    attack._outcomes = reading
    attack.run = lambda rows, labels, keys, accept=None: [outcomes[k] for k in keys]
    adversarial = [run_attack.adversarial_text(x, t, o.ids, o.changed, clf.vocab)[0]
                   for x, t, o in zip(texts, tokens, outcomes)]
    split_again = [words(a) for a in adversarial]
    n = len(texts)
    with cyclic_gc_paused():
        rows = [
            ("tokenise with spans (`tokenize`)", per_text_ms(lambda: [tokenize(t) for t in texts], n)),
            ("vocabulary ids (`Vocabulary.encode`)", per_text_ms(lambda: [clf.vocab.encode(t.words) for t in tokens],
                                                                 n)),
            ("row priorities (`row_priorities`)",
             per_text_ms(lambda: row_priorities(list(map(len, ids)), keys, 0, clf.max_len), n)),
            ("reading the outcomes back (`SequenceAttack._outcomes`)",
             per_text_ms(lambda: attack._outcomes(*read_back[0]), n)),
            ("rewriting the changed words (`adversarial_text`)",
             per_text_ms(lambda: [run_attack.adversarial_text(x, t, o.ids, o.changed, clf.vocab)
                                  for x, t, o in zip(texts, tokens, outcomes)], n)),
            ("splitting the rewritten text again (`words`)", per_text_ms(lambda: [words(a) for a in adversarial], n)),
            ("the recheck's ids and padding (`word_ids`, `pad_ids`)",
             per_text_ms(lambda: pad_ids(clf.word_ids(split_again)), n)),
        ]
        clf.logits = lambda batch, batch_size=512: torch.zeros(len(batch), clf.num_classes)
        rows.append(("the whole per-batch function, attack answered and recheck model stubbed (records included)",
                     per_text_ms(lambda: run_attack._attack_batch(clf, attack, Misclassification(), texts, labels,
                                                                  keys, None), n)))
    lines = [f"{n} IMDB test reviews of at most {clf.max_len} words, papernot over the whole vocabulary, one batch.",
             "", "| piece | ms per text |", "|---|---|", *(f"| {name} | {ms:.4f} |" for name, ms in rows)]
    print("\n".join(lines))
    write_device_section(RESULTS, "Python per text around the attack (`python benchmarks/bench_text_overhead.py`)",
                         "cpu", lines)


if __name__ == "__main__":
    main()
