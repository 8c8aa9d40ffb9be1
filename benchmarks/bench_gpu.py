"""The GPU path, measured: text attack, JSMA and a harden epoch on a CUDA device, beside the same work
on that machine's CPU.

    python benchmarks/bench_gpu.py [--reviews 2400] [--jsma-samples 100] [--only attack|nccl|jsma|epochs ...]

Needs a CUDA build of torch and a GPU (`make setup GPU=1`), the IMDB LSTM of benchmarks/bench_attack.py
(runs/bench/row0) and the MNIST CNN of benchmarks/bench_image.py (runs/mnist-cnn); torchattacks, if
importable, for the JSMA comparison. Rows:
1. Papernot's faithful attack (whole vocabulary, sign search over every word) on IMDB test reviews of
   at most 100 words: batched on the GPU (the Triton search; also the blocked tensor search, --active-rows and
   --bf16), one review at a time on the GPU (the unbatched loop), and batched on the CPU of the same machine.
   Throughput = reviews / attack seconds, the sum of the records' seconds: loading the model and the corpus and the
   device's one-time start-up are excluded (the command's wall-clock seconds, which include them, are shown too).
2. JSMA on the MNIST CNN, the paper's settings, advtext batched against torchattacks, same samples.
3. One epoch of the IMDB LSTM trained clean and one hardened (discrete, WordNet, online greedy).
Writes benchmarks/results/gpu.md (a run of some parts only: gpu-PARTS.md).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import torch
from commands import ROOT

sys.path.insert(0, str(ROOT))

from advtext.engine import attack_mode, evaluate  # noqa: E402
from advtext.image.classifier import ImageClassifier  # noqa: E402
from advtext.image.jsma import all_other_targets, jsma  # noqa: E402
from advtext.image.mnist import load_mnist  # noqa: E402
from advtext.metrics import attack_summary  # noqa: E402
from advtext.text.run_attack import read_attack_file  # noqa: E402

IMDB_RUN = ROOT / "runs" / "bench" / "row0"
CNN_RUN = ROOT / "runs" / "mnist-cnn"
WORK = ROOT / "runs" / "bench-gpu"
PARTS = ["attack", "nccl", "jsma", "epochs"]


class CommandFailed(SystemExit):
    """An advtext command failed: ends the script with its error, unless a row catches it to report it."""


def advtext(*args: str) -> float:
    """Run `advtext ARGS` (printed); its wall-clock seconds."""
    print("$ advtext " + " ".join(args), flush=True)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, str(ROOT / "cli.py"), *args], capture_output=True, text=True)
    if done.returncode:
        raise CommandFailed(f"advtext {args[0]} failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - start


def papernot_row(name: str, n: int, batch_size: int | None, device: str, *options: str) -> str:
    """One row of the attack table (``batch_size`` None: the command's default); a failed run is a row that says why,
    so that the other rows still run."""
    out = WORK / f"papernot-{device}-{batch_size or 'default'}{''.join(options).replace('--', '-')}.jsonl"
    out.unlink(missing_ok=True)
    batch = [] if batch_size is None else ["--batch-size", str(batch_size)]
    try:
        wall = advtext("attack", str(IMDB_RUN), "--corpus", "imdb", "--split", "test", "--max-words", "100",
                       "--n", str(n), "--method", "papernot", "--dictionary", "vocab", "--no-similarity", *batch,
                       "--device", device, "--out", str(out), *options)
    except CommandFailed as failed:
        print(failed.code, file=sys.stderr, flush=True)
        reason = failed.code.strip().splitlines()[-1].replace("|", "/")
        row = f"| papernot, whole vocabulary | {name} | failed: {reason} | | | | | | |"
        print(row, flush=True)
        return row
    records = read_attack_file(out)[1]
    s = attack_summary(records)
    seconds = sum(r["seconds"] for r in records)
    row = (f"| papernot, whole vocabulary | {name} | {len(records)} | {batch_size or 'default'} | "
           f"{s['success_rate']:.1%} | {s['words_changed']['mean']:.2f} | {seconds:.2f} | "
           f"{len(records) / seconds:,.0f} | {wall:.1f} |")
    print(row, flush=True)  # as it comes: a device's time limit may stop the script before the table
    return row


def nccl_check(n: int) -> str:
    """The same attack as one process and as one torchrun rank (nccl): whether the records agree."""
    outs = [WORK / "nccl-one.jsonl", WORK / "nccl-torchrun.jsonl"]
    args = ["attack", str(IMDB_RUN), "--corpus", "imdb", "--split", "test", "--max-words", "100", "--limit", str(n),
            "--method", "papernot", "--no-similarity", "--device", "cuda"]
    for out, launcher in zip(outs, ([], ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "1"])):
        out.unlink(missing_ok=True)
        done = subprocess.run([sys.executable, *launcher, "-m", "advtext", *args, "--out", str(out)],
                              capture_output=True, text=True, cwd=ROOT)
        if done.returncode:
            raise SystemExit(f"advtext attack failed:\n{done.stderr[-3000:]}")
    one, ranked = ([{k: v for k, v in r.items() if k != "seconds"} for r in read_attack_file(o)[1]] for o in outs)
    return (f"torchrun with one rank (nccl) against one process, papernot on {n} reviews: records "
            f"{'equal' if one == ranked else 'DIFFERENT'} apart from their seconds.")


def jsma_rows(samples: int) -> list[str]:
    cnn = ImageClassifier.load(CNN_RUN, "cuda")
    x, y = load_mnist("test")
    x, y = x.cuda(), y.cuda()
    keep = cnn.logits(x).argmax(1).to(y.device) == y
    x, y = x[keep][:samples], y[keep][:samples]
    rows, targets = all_other_targets(y, 10)
    x = x[rows]
    lines = []
    with attack_mode(cnn.model) as m:
        jsma(m, x[:10], targets[:10])  # warm-up: CUDA context and kernels
        torch.cuda.synchronize()
        start = time.perf_counter()
        adv = jsma(m, x, targets)
        torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        ok = float((evaluate(m, adv).argmax(1) == targets).float().mean())
    lines.append(f"| JSMA (probs, saturation 0), advtext | {len(x)} | {ok:.2%} | {seconds:.2f} | "
                 f"{len(x) / seconds:,.0f} |")
    try:
        import torchattacks
    except ImportError:
        return lines + ["| JSMA, torchattacks | not installed on this machine | | | |"]
    cnn.model.eval()
    n = x[0].numel()
    attack = torchattacks.JSMA(cnn.model, theta=1.0, gamma=2 * (int(0.145 * n) // 2) / n)
    attack.set_mode_targeted_by_label(quiet=True)
    torch.cuda.synchronize()
    start = time.perf_counter()
    adv = attack(x, targets)
    torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    ok = float((evaluate(cnn.model, adv).argmax(1) == targets).float().mean())
    version = getattr(torchattacks, "__version__", "")
    return lines + [f"| JSMA (its settings: logits, saturation 0.01), torchattacks {version} | {len(x)} | {ok:.2%} | "
                    f"{seconds:.2f} | {len(x) / seconds:,.0f} |"]


def epoch_seconds(run: Path) -> float:
    return json.loads((run / "config.json").read_text())["history"][0]["seconds"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--reviews", type=int, default=2400, help="IMDB test reviews of <= 100 words (2,412 exist)")
    ap.add_argument("--unbatched", type=int, default=200, help="reviews attacked one at a time")
    ap.add_argument("--jsma-samples", type=int, default=100, help="MNIST samples (x 9 targets)")
    ap.add_argument("--only", choices=PARTS, action="append",
                    help="run only these parts (repeatable; default: all), to fit a device's time limit")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA GPU visible to this torch: run on a GPU machine after `make setup GPU=1`")
    parts = [p for p in PARTS if p in (args.only or PARTS)]
    WORK.mkdir(parents=True, exist_ok=True)
    gpu = torch.cuda.get_device_name(0)
    lines = [f"GPU: {gpu}; torch {torch.__version__}; CPU threads of the same machine: {torch.get_num_threads()}."]
    if "attack" in parts:
        lines += ["", "| attack | device | reviews | batch | success | words changed | attack seconds | reviews/s | "
                  "command seconds |", "|---|---|---|---|---|---|---|---|---|",
                  papernot_row(f"GPU ({gpu}), the default: batches of 4,096, 1,024 stepped at once", args.reviews,
                               None, "cuda"),
                  papernot_row(f"GPU ({gpu}), batches of 1,024, every text stepped", args.reviews, 1024, "cuda"),
                  papernot_row(f"GPU ({gpu}), every review in one batch, every text stepped", args.reviews,
                               args.reviews, "cuda"),
                  papernot_row(f"GPU ({gpu}), batches of 1,024, the blocked tensor search", args.reviews, 1024,
                               "cuda", "--sign-search", "blocked"),
                  papernot_row(f"GPU ({gpu}), batches of 1,024, --bf16", args.reviews, 1024, "cuda", "--bf16"),
                  papernot_row(f"GPU ({gpu}), one review at a time", args.unbatched, 1, "cuda"),
                  papernot_row(f"CPU, {torch.get_num_threads()} threads", min(args.reviews, 500), 128, "cpu")]
    if "nccl" in parts:
        lines += ["", nccl_check(300)]
        print(lines[-1], flush=True)
    if "jsma" in parts:
        lines += ["", "| attack (MNIST CNN, source-target grid) | attacks | success | seconds | attacks/s |",
                  "|---|---|---|---|---|", *jsma_rows(args.jsma_samples)]
        print("\n".join(lines[-2:]), flush=True)
    if "epochs" in parts:
        clean, hardened = WORK / "imdb-clean", WORK / "imdb-hardened"
        advtext("train", "--corpus", "imdb", "--max-len", "100", "--epochs", "1", "--device", "cuda", "--overwrite",
                "--out", str(clean))
        advtext("harden", "--corpus", "imdb", "--from", str(clean), "--epochs", "1", "--device", "cuda",
                "--overwrite", "--out", str(hardened))
        c, h = epoch_seconds(clean), epoch_seconds(hardened)
        lines += ["", "| IMDB LSTM (max 100 words), one epoch on the GPU | seconds |", "|---|---|",
                  f"| clean training | {c:.1f} |",
                  "| adversarial training (discrete, WordNet, online greedy, 2 rounds) | "
                  f"{h:.1f} ({h / c:.1f}x clean) |"]
    table = "\n".join(lines)
    print(table)
    name = "gpu.md" if parts == PARTS else f"gpu-{'-'.join(parts)}.md"  # a partial run keeps the full table
    (ROOT / "benchmarks" / "results" / name).write_text(table + "\n")


if __name__ == "__main__":
    main()
