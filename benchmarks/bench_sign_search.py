"""Papernot's sign search alone: every implementation that runs on a device, on the same queries.

    python benchmarks/bench_sign_search.py [--device cpu|cuda] [--queries N] [--vocab 20002] [--dim 128]

The table is the IMDB LSTM's embedding table (runs/bench/row0, 20,002 words x 128 dimensions) when that run
exists, else a seeded random one of --vocab x --dim. The queries are seeded random words, each with a
seeded random sign vector (a third of its components zero, as where a gradient component vanishes).
Every method must return the same words and distances as the first one (checked here). On a GPU the
Triton kernel also runs with other tiles (queries x words per program, and warps), to tune its defaults. Each
row: the best of --repeats timed calls after a warm-up. Writes its table to
benchmarks/results/sign_search.md under a heading naming the device (replacing that device's last one).
"""

from __future__ import annotations

import argparse
import sys
import time

import torch
from commands import ROOT, write_device_section

sys.path.insert(0, str(ROOT))

from advtext.text.sign_search import check_method, sign_match  # noqa: E402

RUN = ROOT / "runs" / "bench" / "row0"
RESULTS = ROOT / "benchmarks" / "results" / "sign_search.md"
TILES = [(16, 64, 4), (32, 64, 4), (32, 64, 8), (32, 128, 8), (64, 64, 8), (64, 128, 16)]  # queries, words, warps


def inputs(args: argparse.Namespace) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, str]:
    """The table, the queries' current words and signs, the allowed words, and where the table came from."""
    g = torch.Generator().manual_seed(0)
    if (RUN / "model.safetensors").exists():
        from advtext.text.classifier import TextClassifier

        table = TextClassifier.load(RUN, "cpu").model.embedding.weight.detach().float()
        source = "the IMDB LSTM's embeddings (runs/bench/row0)"
    else:
        table = torch.randn(args.vocab, args.dim, generator=g)
        source = f"random embeddings (seed 0; {RUN.relative_to(ROOT)} not found)"
    current = torch.randint(2, table.shape[0], (args.queries,), generator=g)
    signs = torch.randint(-1, 2, (args.queries, table.shape[1]), generator=g).float()
    allowed = torch.ones(table.shape[0], dtype=torch.bool)
    allowed[:2] = False  # padding and unknown, as in the whole-vocabulary dictionary
    return table, current, signs, allowed, source


def timed(call, repeats: int, device: torch.device) -> tuple[float, tuple[torch.Tensor, torch.Tensor]]:
    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    result = call()  # warm-up: compilation, caches
    best = float("inf")
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        result = call()
        sync()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--queries", type=int, default=None,
                    help="queries per call, one attack step of a batch [default: 2400 on a GPU, 240 on the CPU]")
    ap.add_argument("--vocab", type=int, default=20002)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    device = torch.device(args.device)
    args.queries = args.queries or (2400 if device.type == "cuda" else 240)
    table, current, signs, allowed, source = inputs(args)
    table, current, signs, allowed = (t.to(device) for t in (table, current, signs, allowed))
    variants = []
    for method in ("numba", "triton", "blocked"):
        try:
            check_method(method, device)
        except Exception as refused:  # noqa: BLE001 - the reason goes in the table
            print(f"{method}: not run here ({refused})", flush=True)
            continue
        if method == "triton":
            from advtext.text.triton_search import triton_sign_match

            variants += [(f"triton, tiles {q} x {w}, {warps} warps",
                          lambda q=q, w=w, warps=warps: triton_sign_match(table, current, signs, allowed, q, w, warps))
                         for q, w, warps in TILES]
        else:
            variants.append((method, lambda m=method: sign_match(table, current, signs, allowed, method=m)))
    lines = [f"{args.queries} queries against {source}: {table.shape[0]:,} words x {table.shape[1]} dimensions.", "",
             "| search | seconds per call | queries/s | same words and distances as the first row |",
             "|---|---|---|---|"]
    reference = None
    for label, call in variants:
        seconds, (best, dist) = timed(call, args.repeats, device)
        same = "-" if reference is None else ("yes" if torch.equal(best.cpu(), reference[0]) and
                                              torch.equal(dist.cpu(), reference[1]) else "NO")
        reference = reference or (best.cpu(), dist.cpu())
        lines.append(f"| {label} | {seconds:.4f} | {args.queries / seconds:,.0f} | {same} |")
        print(lines[-1], flush=True)
    if any(line.endswith("| NO |") for line in lines):
        raise SystemExit("the searches disagree: a bug, not a benchmark result")
    write_device_section(RESULTS, "Papernot's sign search alone (`benchmarks/bench_sign_search.py`)", args.device,
                         lines)


if __name__ == "__main__":
    main()
