"""What the benchmark scripts share: running one `advtext` command (printed), writing one device's section of a
results file, and formatting a share."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def advtext(*args: str) -> str:
    """Run `advtext ARGS` in a subprocess, print the command, return its standard output."""
    print("$ advtext " + " ".join(args), flush=True)
    return subprocess.run([sys.executable, str(ROOT / "cli.py"), *args], check=True, capture_output=True,
                          text=True).stdout


def write_device_section(path: Path, title: str, device: str, lines: list[str]) -> None:
    """Write ``lines`` under a heading naming ``device`` and torch's version, replacing that device's last section
    and keeping the other devices' (a GPU's rows beside the CPU's)."""
    import torch

    name = torch.cuda.get_device_name(device) if device.startswith("cuda") else \
        f"CPU, {torch.get_num_threads()} threads"
    previous = path.read_text() if path.exists() else f"# {title}\n"
    kept = [part for part in previous.split("\n## ") if not part.startswith(name + ",")]
    section = [f"## {name}, torch {torch.__version__}", "", *lines]
    path.write_text("\n## ".join(kept).rstrip("\n") + "\n\n" + "\n".join(section) + "\n")


def pct(value: float | None) -> str:
    """A share as a percentage with one decimal ("-" when undefined)."""
    return "-" if value is None else f"{100 * value:.1f}%"
