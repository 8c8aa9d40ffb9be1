"""``python -m advtext``: the command line, as torchrun starts it (``torchrun ... -m advtext attack ...``)."""

from advtext.cli import main

if __name__ == "__main__":
    main()
