"""PNG figures for image attacks: example grids, the accuracy-versus-epsilon curve, probe grids."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402


def example_grid(x: torch.Tensor, adv: torch.Tensor, y: torch.Tensor, pred: torch.Tensor, path: Path,
                 title: str, columns: int = 8) -> None:
    """Rows: originals (true label), perturbations (scaled to their own range), adversarials (prediction)."""
    k = min(columns, len(x))
    fig, axes = plt.subplots(3, k, figsize=(1.4 * k, 4.6), squeeze=False)
    for j in range(k):
        delta = (adv[j] - x[j])[0]
        bound = float(delta.abs().max()) or 1.0
        panels = [(x[j][0], "gray", 0, 1, f"label {int(y[j])}"),
                  (delta, "seismic", -bound, bound, f"|d|max {bound:.2f}"),
                  (adv[j][0], "gray", 0, 1, f"pred {int(pred[j])}")]
        for i, (img, cmap, lo, hi, label) in enumerate(panels):
            ax = axes[i][j]
            ax.imshow(img.cpu(), cmap=cmap, vmin=lo, vmax=hi)
            ax.set_title(label, fontsize=8, color="red" if i == 2 and int(pred[j]) != int(y[j]) else "black")
            ax.axis("off")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def epsilon_curve(curves: dict[str, list[dict]], path: Path, title: str, xlabel: str = "epsilon") -> None:
    """Accuracy under attack against epsilon, one line per named curve."""
    fig, ax = plt.subplots(figsize=(5, 3.6))
    for name, points in curves.items():
        ax.plot([p["eps"] for p in points], [p["accuracy"] for p in points], marker="o", label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("accuracy under attack")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def image_rows(rows: dict[str, torch.Tensor], path: Path, title: str) -> None:
    """One row of images per name (e.g. top inputs for a unit, then for a random direction)."""
    k = max(len(v) for v in rows.values())
    fig, axes = plt.subplots(len(rows), k, figsize=(1.2 * k, 1.5 * len(rows)), squeeze=False)
    for i, (name, images) in enumerate(rows.items()):
        for j in range(k):
            ax = axes[i][j]
            ax.axis("off")
            if j < len(images):
                ax.imshow(images[j][0].cpu(), cmap="gray", vmin=0, vmax=1)
        axes[i][0].set_title(name, fontsize=8, loc="left")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
