"""Thin entry point: `python cli.py ...` is the same program as `advtext ...`."""

from advtext.cli import main

if __name__ == "__main__":
    main()
