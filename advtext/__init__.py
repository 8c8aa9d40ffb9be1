"""advtext: adversarial examples for text and image classifiers, on one batched gradient engine."""

__version__ = "0.1.0"
