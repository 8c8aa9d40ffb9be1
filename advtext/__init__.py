"""advtext: adversarial examples for text and image classifiers, on one batched gradient engine."""

import os

# advtext works offline: the Hugging Face libraries read only what is already on this machine, never the hub
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"

__version__ = "0.1.0"

__all__ = ["attack", "load_classifier", "summarize"]


def __getattr__(name: str):
    """The Python API (``advtext.api``), imported on first use: ``import advtext`` alone stays light."""
    if name in __all__:
        from advtext import api

        return getattr(api, name)
    raise AttributeError(f"module 'advtext' has no attribute {name!r}")
