"""TextAttack's own CSV log through `advtext stats`: the same success rate that TextAttack computes.

    python benchmarks/check_textattack_csv.py [--n 50]

Runs TextAttack 0.3.11's PWWS (its venv from benchmarks/bench_peers.sh) on the MiniLM of
benchmarks/bench_transformer.py, exported by `advtext export`, with TextAttack's CSVLogger; then reads
that CSV with `advtext stats --json`. Writes benchmarks/results/textattack_csv.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
from pathlib import Path

from commands import ROOT, advtext

RUN = ROOT / "runs" / "bench-transformer" / "rt-minilm"
PEERS = Path(os.environ.get("PEERS_ROOT", str(ROOT / "benchmarks" / ".peers"))).resolve()
WORK = PEERS / "textattack-csv"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=50)
    args = ap.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    model, records, texts = WORK / "rt-minilm-hf", WORK / "texts.jsonl", WORK / "texts-input.jsonl"
    advtext("export", str(RUN), "--out", str(model), "--overwrite")
    records.unlink(missing_ok=True)  # the sentences: a white-box run's draw of correctly classified test texts
    advtext("attack", str(RUN), "--corpus", "rotten-tomatoes", "--n", str(args.n), "--only-correct", "--method",
            "greedy", "--dictionary", "wordnet", "--no-similarity", "--out", str(records))
    rows = [json.loads(line) for line in records.read_text().splitlines()[1:]]
    texts.write_text("".join(json.dumps({"text": r["original"], "label": r["label"]}) + "\n" for r in rows))
    log, result = WORK / "pwws.csv", WORK / "pwws.json"
    subprocess.run([str(PEERS / "venv-ta" / "bin" / "python"), str(ROOT / "benchmarks" / "textattack_hf.py"),
                    "--model", str(model), "--texts", str(texts), "--recipe", "pwws", "--nltk-data",
                    str(ROOT / "data" / "nltk"), "--nltk-data", str(PEERS / "data" / "nltk_data"), "--cache",
                    str(PEERS / "cache"), "--max-length", "128", "--csv", str(log), "--out", str(result)], check=True,
                   capture_output=True, text=True)
    theirs = json.loads(result.read_text())["textattack_summary"]
    ours = json.loads(advtext("stats", str(log), "--json"))
    lines = ["| | successful / failed / skipped | success rate |", "|---|---|---|",
             f"| TextAttack's own figures (AttackSuccessRate) | {theirs['successful_attacks']} / "
             f"{theirs['failed_attacks']} / {theirs['skipped_attacks']} | {theirs['attack_success_rate']:.2f}% |",
             f"| `advtext stats` on TextAttack's CSV log | {ours['succeeded']} / {ours['failed']} / "
             f"{ours['skipped']} | {100 * ours['success_rate']:.2f}% |"]
    table = "\n".join(lines)
    print(table)
    (ROOT / "benchmarks" / "results" / "textattack_csv.md").write_text(
        f"TextAttack 0.3.11 PWWS on {len(rows)} Rotten Tomatoes test sentences, the MiniLM of bench_transformer.py:\n\n"
        + table + "\n")


if __name__ == "__main__":
    main()
