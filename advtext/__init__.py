"""advtext: adversarial examples for text and image classifiers, on one batched gradient engine."""

import os

# advtext works offline: the Hugging Face libraries read only what is already on this machine, never the hub
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"

__version__ = "0.1.0"
