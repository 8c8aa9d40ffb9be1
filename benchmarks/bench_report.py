"""The HTML report at scale: size of the page for 1,000 records, and how long headless Chromium takes to
open it and run its script.

    python benchmarks/bench_report.py

Attacks 1,000 Rotten Tomatoes test texts with the RT LSTM of benchmarks/bench_attack.py (runs/bench/row2;
greedy, WordNet), writes `advtext report` of the records, and times `chromium --headless --dump-dom` on it
(the whole browser process: start, load, script, exit; an upper bound on opening the page). Writes
benchmarks/results/report.md.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import time

from commands import ROOT, advtext

RUN = ROOT / "runs" / "bench" / "row2"
OUT = ROOT / "runs" / "bench-report"


def main() -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("no chromium on this machine: `make browser` installs Debian's")
    OUT.mkdir(parents=True, exist_ok=True)
    records, page = OUT / "attack.jsonl", OUT / "report.html"
    records.unlink(missing_ok=True)
    advtext("attack", str(RUN), "--corpus", "rotten-tomatoes", "--n", "1000", "--method", "greedy", "--dictionary",
            "wordnet", "--protect-stopwords", "--no-similarity", "--out", str(records))
    start = time.perf_counter()
    advtext("report", str(records), "--out", str(page))
    written = time.perf_counter() - start
    opened = []
    for _ in range(3):
        start = time.perf_counter()
        dom = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                              "--disable-background-networking", "--disable-component-update", "--disable-sync",
                              "--dump-dom", f"file://{page}"], capture_output=True, text=True, timeout=120).stdout
        opened.append(time.perf_counter() - start)
        if 'data-ready="yes"' not in dom:
            raise SystemExit("the page's script did not run in chromium")
    lines = ["| records | page size | `advtext report` (process) | chromium: start, load, script, exit (median of 3) |",
             "|---|---|---|---|",
             f"| 1,000 | {page.stat().st_size / 1e6:.2f} MB | {written:.1f} s | {statistics.median(opened):.2f} s |"]
    table = "\n".join(lines)
    print(table)
    (ROOT / "benchmarks" / "results" / "report.md").write_text(table + "\n")


if __name__ == "__main__":
    main()
