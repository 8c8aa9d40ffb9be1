"""What the benchmark scripts share: running one `advtext` command (printed) and formatting a share."""

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


def pct(value: float | None) -> str:
    """A share as a percentage with one decimal ("-" when undefined)."""
    return "-" if value is None else f"{100 * value:.1f}%"
