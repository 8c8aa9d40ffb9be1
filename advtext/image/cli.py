"""`advtext image ...`: MNIST models and the image-domain attacks."""

import click


@click.group()
def image():
    """MNIST classifiers and image attacks (FGSM, BIM, PGD, JSMA, L-BFGS) on the shared engine."""
