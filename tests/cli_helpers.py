"""Run the advtext command line in-process and capture its exit code and output."""

from __future__ import annotations

import sys

from advtext.cli import main


def run_cli(args: list[str], capsys, monkeypatch) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["advtext", *map(str, args)])
    code = 0
    try:
        main()
    except SystemExit as e:
        code = e.code or 0
    out = capsys.readouterr()
    return code, out.out, out.err


def comparable(records: list[dict]) -> list[dict]:
    """Records without their timings, the measured sentence similarity to 3 decimals: the MiniLM encoder's
    last bits depend on how many texts share its batch, the attack's decisions do not."""
    out = []
    for r in records:
        r = {k: v for k, v in r.items() if k != "seconds"}
        if r.get("quality", {}).get("similarity") is not None:
            r["quality"] = {**r["quality"], "similarity": round(r["quality"]["similarity"], 3)}
        out.append(r)
    return out
