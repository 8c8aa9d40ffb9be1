"""`advtext image ...`: MNIST models and the image-domain attacks."""

from __future__ import annotations

import time
from pathlib import Path

import click

from advtext.errors import AdvtextError


def _positive(ctx, param, value):
    if value is not None and value <= 0:
        raise click.BadParameter(f"must be a positive integer, got {value}")
    return value


@click.group()
def image():
    """MNIST classifiers and image attacks (FGSM, BIM, PGD, JSMA, L-BFGS) on the shared engine."""


@image.command()
@click.option("--model", "architecture", type=click.Choice(["cnn", "mlp", "linear"]), default="cnn",
              show_default=True, help="small CNN, fully connected net, or shallow softmax")
@click.option("--hidden-size", type=int, default=128, show_default=True, callback=_positive)
@click.option("--train-size", type=int, default=None, callback=_positive,
              help="use only the first N training images (default all 60,000 minus validation)")
@click.option("--val-size", type=int, default=5000, show_default=True, callback=_positive,
              help="training images held out (the last N) for early stopping")
@click.option("--epochs", type=int, default=3, show_default=True, callback=_positive)
@click.option("--batch-size", type=int, default=128, show_default=True, callback=_positive)
@click.option("--lr", type=float, default=1e-3, show_default=True)
@click.option("--patience", type=int, default=2, show_default=True, callback=_positive)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda[:N]")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="run directory to write")
@click.option("--overwrite", is_flag=True, help="replace a model already in --out")
def train(architecture, hidden_size, train_size, val_size, epochs, batch_size, lr, patience, seed, device, out,
          overwrite):
    """Train an MNIST classifier and write it (weights, config, report) to --out."""
    from advtext.checkpoint import check_run_dir
    from advtext.engine import select_device
    from advtext.image.classifier import ImageClassifier
    from advtext.image.mnist import load_mnist
    from advtext.image.models import ImageModelConfig, build_image_model
    from advtext.image.train import fit
    from advtext.report import print_classification_report
    from advtext.text.train import TrainSettings, classification_report, seed_everything

    run_dir = check_run_dir(out, overwrite)
    dev = select_device(device)
    x, y = load_mnist("train")
    if val_size >= len(y):
        raise AdvtextError(f"--val-size {val_size} leaves no training images: choose fewer than {len(y)}")
    x_val, y_val = x[-val_size:], y[-val_size:]
    x, y = x[:-val_size][:train_size], y[:-val_size][:train_size]
    seed_everything(seed)
    cfg = ImageModelConfig(architecture=architecture, hidden_size=hidden_size)
    clf = ImageClassifier(build_image_model(cfg).to(dev), dev)
    click.echo(f"training {architecture} on MNIST: {len(y)} train / {len(y_val)} validation images, device {dev}",
               err=True)
    settings = TrainSettings(epochs=epochs, batch_size=batch_size, lr=lr, patience=patience, seed=seed)
    history = fit(clf, x, y, x_val, y_val, settings, log=lambda m: click.echo(m, err=True))
    report = classification_report(clf, *load_mnist("test"))
    clf.save(run_dir, corpus="mnist", seed=seed, train=settings.__dict__, history=history, test=report,
             created=time.strftime("%Y-%m-%dT%H:%M:%S"))
    print_classification_report(report, f"{architecture} on MNIST test split")
    click.echo(f"saved {run_dir}")
