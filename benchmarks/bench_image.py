"""Image-domain figures for the README, beside the papers', and speed against torchattacks.

Run with the benchmark's own environment, which holds the peer (never a dependency of advtext):

    python3 -m venv benchmarks/.venv-peers
    benchmarks/.venv-peers/bin/pip install torch==2.13.0
    benchmarks/.venv-peers/bin/pip install --no-deps torchattacks==3.5.1
    benchmarks/.venv-peers/bin/pip install numpy scipy tqdm requests safetensors torch==2.13.0
    nice benchmarks/.venv-peers/bin/python benchmarks/bench_image.py

advtext is imported from this checkout, so both implementations run in one process on the same
models and samples. Models come from runs/mnist-{cnn,mlp,linear} (trained with `advtext image train`
by the .venv's python when missing). Prints a markdown table and writes benchmarks/results/image.md.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from advtext.engine import attack_mode, evaluate  # noqa: E402
from advtext.image.classifier import ImageClassifier  # noqa: E402
from advtext.image.fgsm import fast_gradient_method, projected_gradient_descent  # noqa: E402
from advtext.image.jsma import all_other_targets, jsma  # noqa: E402
from advtext.image.mnist import load_mnist  # noqa: E402

MODELS = {"cnn": 3, "mlp": 3, "linear": 5}  # architecture -> training epochs
GAMMA, THETA = 0.145, 1.0
JSMA_SETTINGS = {  # name: (saliency, saturation)
    "torchattacks' (logits, saturation 0.01)": ("logits", 0.01),
    "the paper's (JSMA-F: softmax outputs, saturation 0), advtext's default": ("probs", 0.0),
}


def model(name: str) -> ImageClassifier:
    run = ROOT / "runs" / f"mnist-{name}"
    if not (run / "model.safetensors").exists():
        subprocess.run([str(ROOT / ".venv/bin/python"), str(ROOT / "cli.py"), "image", "train", "--model", name,
                        "--epochs", str(MODELS[name]), "--device", "cpu", "--out", str(run)], check=True)
    return ImageClassifier.load(run, "cpu")


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def jsma_figures(m: torch.nn.Module, x: torch.Tensor, targets: torch.Tensor, saliency: str = "logits",
                 saturation: float = 0.01) -> dict:
    adv, seconds = timed(lambda: jsma(m, x, targets, THETA, GAMMA, saturation=saturation, saliency=saliency))
    success = evaluate(m, adv).argmax(1) == targets
    changed = (adv != x).flatten(1).float().mean(1)
    return {"success": float(success.float().mean()), "features": float(changed[success].mean()),
            "seconds": seconds, "rate": len(x) / seconds}


def peer_jsma(m: torch.nn.Module, x: torch.Tensor, targets: torch.Tensor) -> dict:
    import torchattacks

    n = x[0].numel()
    # torchattacks runs ceil(gamma * n / 2) iterations of two features; this gamma gives it the same
    # budget as advtext's floor(gamma * n) features
    attack = torchattacks.JSMA(m, theta=THETA, gamma=2 * (int(GAMMA * n) // 2) / n)
    attack.set_mode_targeted_by_label(quiet=True)
    adv, seconds = timed(lambda: attack(x, targets))
    success = evaluate(m, adv).argmax(1) == targets
    changed = (adv != x).flatten(1).float().mean(1)
    return {"success": float(success.float().mean()), "features": float(changed[success].mean()),
            "seconds": seconds, "rate": len(x) / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid-samples", type=int, default=1000, help="test samples for the JSMA grid")
    parser.add_argument("--speed-samples", type=int, default=5, help="samples (x 9 targets) for the JSMA race")
    args = parser.parse_args()
    torch.manual_seed(0)
    x_test, y_test = load_mnist("test")
    lines, timings = [], []
    clfs = {name: model(name) for name in MODELS}

    lines += ["| model | test accuracy | FGSM eps=0.25 error rate | paper (Goodfellow 2015) |",
              "| --- | --- | --- | --- |"]
    paper_fgsm = {"linear": "shallow softmax 99.9%", "mlp": "-", "cnn": "maxout network 89.4%"}
    for name, clf in clfs.items():
        with attack_mode(clf.model) as m:
            acc = float((evaluate(m, x_test, chunk_size=2000).argmax(1) == y_test).float().mean())
            adv, seconds = timed(lambda m=m: fast_gradient_method(m, x_test, 0.25, y=y_test, chunk_size=2000))
            err = float((evaluate(m, adv, chunk_size=2000).argmax(1) != y_test).float().mean())
        timings.append(f"FGSM eps=0.25, {name}, 10,000 test images: {seconds:.2f} s")
        lines.append(f"| {name} | {acc:.2%} | {err:.1%} | {paper_fgsm[name]} |")

    cnn = clfs["cnn"]
    keep = cnn.logits(x_test).argmax(1) == y_test
    x_ok, y_ok = x_test[keep], y_test[keep]
    x_grid, y_grid = x_ok[: args.grid_samples], y_ok[: args.grid_samples]
    rows, targets = all_other_targets(y_grid, 10)
    lines += ["", f"JSMA (theta=+1, gamma={GAMMA}) on the CNN, {len(y_grid)} correctly classified MNIST test samples "
              f"x 9 other targets = {len(rows)} attacks:", "",
              "| | settings (`--saliency`, `--saturation`) | success rate | mean % of features changed (successes) |",
              "| --- | --- | --- | --- |"]
    for name, (saliency, saturation) in JSMA_SETTINGS.items():
        with attack_mode(cnn.model) as m:
            grid = jsma_figures(m, x_grid[rows], targets, saliency, saturation)
        timings.append(f"JSMA grid, cnn, {name}, {len(rows)} attacks: {grid['seconds']:.1f} s "
                       f"({grid['rate']:.1f} attacks/s)")
        lines.append(f"| advtext | {name}: `{saliency}`, `{saturation}` | {grid['success']:.2%} | "
                     f"{grid['features']:.2%} |")
    lines.append("| Papernot et al. 2016 (LeNet) | softmax outputs; a feature leaves when it reaches the edge | "
                 "97.05% | 4.02% |")

    x_s, y_s = x_ok[: args.speed_samples], y_ok[: args.speed_samples]
    rows, targets = all_other_targets(y_s, 10)
    x_race = x_s[rows]
    with attack_mode(cnn.model) as m:
        ours = jsma_figures(m, x_race, targets)
    cnn.model.eval()
    peer = peer_jsma(cnn.model, x_race, targets)
    lines += ["", f"Speed, one process, same CNN and samples ({len(rows)} JSMA attacks, both with torchattacks' "
              f"settings: logits, 1% saturation; FGSM on 10,000 and PGD-10 on 1,000 test images), "
              f"CPU threads: {torch.get_num_threads()}:", "",
              "| attack | implementation | success rate | mean % features | seconds | samples/s |",
              "| --- | --- | --- | --- | --- | --- |"]
    for label, r in (("advtext", ours), ("torchattacks 3.5.1", peer)):
        lines.append(f"| JSMA | {label} | {r['success']:.2%} | {r['features']:.2%} | {r['seconds']:.1f} | "
                     f"{r['rate']:.1f} |")
    import torchattacks

    for label, ours_fn, peer_fn, n in (
            ("FGSM eps=0.25",
             lambda m, x, y: fast_gradient_method(m, x, 0.25, y=y, chunk_size=2000),
             lambda m, x, y: torchattacks.FGSM(m, eps=0.25)(x, y), 10000),
            ("PGD eps=0.3, 10 x 0.03",
             lambda m, x, y: projected_gradient_descent(m, x, 0.3, 0.03, 10, y=y, chunk_size=2000),
             lambda m, x, y: torchattacks.PGD(m, eps=0.3, alpha=0.03, steps=10)(x, y), 1000)):
        x, y = x_test[:n], y_test[:n]
        for impl, fn in (("advtext", ours_fn), ("torchattacks 3.5.1", peer_fn)):
            cnn.model.eval()
            if impl == "advtext":
                with attack_mode(cnn.model) as m:
                    adv, seconds = timed(lambda fn=fn, m=m, x=x, y=y: fn(m, x, y))
            else:
                adv, seconds = timed(lambda fn=fn, x=x, y=y: fn(cnn.model, x, y))
            err = float((evaluate(cnn.model, adv, chunk_size=2000).argmax(1) != y).float().mean())
            lines.append(f"| {label} | {impl} | {err:.2%} (error rate) | - | {seconds:.2f} | {n / seconds:.0f} |")
    lines += ["", "Timings: " + "; ".join(timings) + "."]

    table = "\n".join(lines)
    print(table)
    out = ROOT / "benchmarks" / "results" / "image.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("# Image-domain figures (benchmarks/bench_image.py)\n\n" + table + "\n", encoding="utf-8")
    print(f"\nwrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
