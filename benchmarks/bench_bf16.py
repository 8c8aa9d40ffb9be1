"""bfloat16 against float32: the same attacks with and without `advtext attack --bf16`, on one device.

    python benchmarks/bench_bf16.py [--device cpu|cuda] [--n 500]

The IMDB LSTM of benchmarks/bench_attack.py (runs/bench/row0), IMDB test reviews of at most 100 words, the
faithful papernot attack and greedy (whole vocabulary, --no-similarity). Under --bf16 the attack's passes run
in bfloat16 autocast and every adversarial text is classified again in float32 (as always); a bf16 success
that float32 does not confirm is a failure, counted in its own column. Also: how many texts got exactly the
same changes both ways. Writes its table to benchmarks/results/bf16.md under a heading naming the device
(replacing that device's last one).
"""

from __future__ import annotations

import argparse
import sys

import torch
from commands import ROOT, advtext, pct, write_device_section

sys.path.insert(0, str(ROOT))

from advtext.metrics import attack_summary  # noqa: E402
from advtext.text.run_attack import read_attack_file  # noqa: E402

RUN = ROOT / "runs" / "bench" / "row0"
WORK = ROOT / "runs" / "bench-bf16"
RESULTS = ROOT / "benchmarks" / "results" / "bf16.md"
NOT_CONFIRMED = "the rewritten text does not reach the goal when classified again"


def attack(method: str, n: int, device: str, bf16: bool) -> list[dict]:
    out = WORK / f"{method}-{device}-{'bf16' if bf16 else 'fp32'}.jsonl"
    out.unlink(missing_ok=True)
    advtext("attack", str(RUN), "--corpus", "imdb", "--split", "test", "--max-words", "100", "--limit", str(n),
            "--method", method, "--dictionary", "vocab", "--no-similarity", "--device", device, "--out", str(out),
            *(["--bf16"] if bf16 else []))
    return read_attack_file(out)[1]


def row(method: str, precision: str, records: list[dict], same: str) -> str:
    s = attack_summary(records)
    seconds = sum(r["seconds"] for r in records)
    unconfirmed = sum(r["reason"] == NOT_CONFIRMED for r in records)
    return (f"| {method} | {precision} | {len(records)} | {pct(s['success_rate'])} | "
            f"{s['words_changed']['mean']:.2f} | {unconfirmed} | {seconds:.2f} | {len(records) / seconds:,.0f} | "
            f"{same} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--n", type=int, default=500)
    args = ap.parse_args()
    if not (RUN / "model.safetensors").exists():
        raise SystemExit(f"{RUN.relative_to(ROOT)} not found: run benchmarks/bench_attack.py first")
    WORK.mkdir(parents=True, exist_ok=True)
    lines = ["| attack (whole vocabulary) | passes | reviews | success | words changed | bf16 successes float32 "
             "refused | attack seconds | reviews/s | texts with the same changes as float32 |",
             "|---|---|---|---|---|---|---|---|---|"]
    for method in ("papernot", "greedy"):
        full = attack(method, args.n, args.device, False)
        half = attack(method, args.n, args.device, True)
        same = sum(a["changes"] == b["changes"] for a, b in zip(full, half))
        lines += [row(method, "float32", full, "-"), row(method, "bf16 autocast", half, f"{same} of {len(half)}")]
        print("\n".join(lines[-2:]), flush=True)
    write_device_section(RESULTS, "bfloat16 against float32 (`benchmarks/bench_bf16.py`)", args.device, lines)


if __name__ == "__main__":
    main()
