"""The adversary's knowledge, level by level (Papernot et al. 2016's threat model), in one table.

    python benchmarks/bench_threats.py [--n 200]

Every row is one `advtext attack` (printed) on N test texts the target classifies correctly, all with
greedy's WordNet dictionary (stopwords kept): white-box (the target's gradients), oracle (only its
probabilities: greedy's query-only form), transfer from substitutes the attacker owns, of another
architecture (same data) or trained on other data, and samples (a substitute LSTM trained on N texts
of the attacker's, drawn from the training split and labelled by the target). Targets: the Rotten
Tomatoes LSTM and CNN and the IMDB LSTM (reviews of at most 100 words) of benchmarks/bench_attack.py
(runs/bench/row{0,2,3}), the MiniLM of benchmarks/bench_transformer.py, and an IMDB CNN trained here
when missing. Writes benchmarks/results/threats.md.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time

import torch
from commands import ROOT, advtext, pct

sys.path.insert(0, str(ROOT))

from advtext.metrics import attack_summary  # noqa: E402
from advtext.text.run_attack import read_attack_file  # noqa: E402

RUNS = ROOT / "runs"
IMDB_LSTM, RT_LSTM, RT_CNN = RUNS / "bench" / "row0", RUNS / "bench" / "row2", RUNS / "bench" / "row3"
IMDB_CNN, MINILM = RUNS / "bench-threats" / "imdb-cnn", RUNS / "bench-transformer" / "rt-minilm"
OUT = RUNS / "bench-threats" / "attacks"
COMMON = ["--only-correct", "--method", "greedy", "--dictionary", "wordnet", "--protect-stopwords", "--no-similarity"]


def rows() -> list[tuple[str, str, list[str], str, str]]:
    """(target name, target run, corpus options, threat, what the attacker has)."""
    rt, imdb = ["--corpus", "rotten-tomatoes"], ["--corpus", "imdb", "--max-words", "100"]
    return [
        ("RT LSTM", str(RT_LSTM), rt, "white-box", "the target's gradients"),
        ("RT LSTM", str(RT_LSTM), rt, "oracle", "the target's probabilities"),
        ("RT LSTM", str(RT_LSTM), rt, f"transfer:{RT_CNN}", "a CNN, same data"),
        ("RT LSTM", str(RT_LSTM), rt, f"transfer:{IMDB_LSTM}", "an LSTM, other data (IMDB)"),
        ("RT CNN", str(RT_CNN), rt, f"transfer:{RT_LSTM}", "an LSTM, same data"),
        ("RT MiniLM", str(MINILM), rt, f"transfer:{RT_LSTM}", "an LSTM, same data"),
        *[("RT LSTM", str(RT_LSTM), rt, f"samples:{n}", f"{n:,} of its texts labelled by the target")
          for n in (800, 3200, 6400)],
        ("IMDB LSTM", str(IMDB_LSTM), imdb, "white-box", "the target's gradients"),
        ("IMDB LSTM", str(IMDB_LSTM), imdb, "oracle", "the target's probabilities"),
        ("IMDB LSTM", str(IMDB_LSTM), imdb, f"transfer:{IMDB_CNN}", "a CNN, same data"),
        ("IMDB LSTM", str(IMDB_LSTM), imdb, f"transfer:{RT_LSTM}", "an LSTM, other data (RT)"),
        ("IMDB CNN", str(IMDB_CNN), imdb, f"transfer:{IMDB_LSTM}", "an LSTM, same data"),
        ("IMDB LSTM", str(IMDB_LSTM), imdb, "samples:6400", "6,400 of its texts labelled by the target"),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=200, help="test texts per row")
    args = ap.parse_args()
    for run in (IMDB_LSTM, RT_LSTM, RT_CNN, MINILM):
        if not (run / "model.safetensors").exists():
            raise SystemExit(f"missing {run}: run benchmarks/bench_attack.py and benchmarks/bench_transformer.py")
    if not (IMDB_CNN / "model.safetensors").exists():
        advtext("train", "--corpus", "imdb", "--model", "cnn", "--max-len", "100", "--epochs", "3", "--out",
                str(IMDB_CNN))
    OUT.mkdir(parents=True, exist_ok=True)
    lines = [f"Greedy attack, WordNet synonyms (stopwords and punctuation kept), on {args.n} test texts each target "
             "classifies correctly (IMDB: reviews of at most 100 words):", "",
             "| target | threat | the attacker has | success rate | words changed (mean) | queries to the target "
             "per text: mean / median | transfer rate | s/text |", "|---|---|---|---|---|---|---|---|"]
    for k, (name, run, corpus, threat, has) in enumerate(rows()):
        out = OUT / f"row{k}.jsonl"
        out.unlink(missing_ok=True)
        out.with_name(out.stem + ".substitute.jsonl").unlink(missing_ok=True)
        shutil.rmtree(out.with_name(out.stem + ".substitute-run"), ignore_errors=True)
        start = time.perf_counter()
        advtext("attack", run, *corpus, "--n", str(args.n), *COMMON, "--threat", threat, "--out", str(out))
        seconds = time.perf_counter() - start
        records = read_attack_file(out)[1]
        s = attack_summary(records)
        q = s["queries"]
        attacked = [r for r in records if r["status"] != "skipped"]
        crafted = [r for r in attacked if r.get("substitute_status") == "succeeded"]
        transfer = (pct(sum(r["status"] == "succeeded" for r in crafted) / len(crafted)) if crafted
                    else "-" if threat in ("white-box", "oracle") else "no success on the substitute")
        per_text = statistics.fmean(r["seconds"] for r in records)  # the substitute's attack, for transfer
        lines.append(f"| {name} | {threat.split(':')[0]} | {has} | {pct(s['success_rate'])} | "
                     f"{s['words_changed']['mean'] or 0:.2f} | {q['mean'] or 0:.1f} / {q['median'] or 0:.0f} | "
                     f"{transfer} | {per_text:.3f} |")
        print(lines[-1], f"({seconds:.0f} s)", flush=True)
    lines += ["", f"CPU only, torch threads: {torch.get_num_threads()}. Queries: texts the target classified for "
              "each attacked text; a transfer attack asks the target twice (the original and the crafted text), "
              "its search runs on the substitute; samples:N adds the N labels that trained the substitute. "
              "Transfer rate: of the texts the substitute's attack flipped on "
              "the substitute, the share that the target misclassifies too; the success rate is over every "
              "attacked text. s/text: the attack's own seconds (for transfer, on the substitute)."]
    table = "\n".join(lines)
    print(table)
    (ROOT / "benchmarks" / "results" / "threats.md").write_text(table + "\n")


if __name__ == "__main__":
    main()
