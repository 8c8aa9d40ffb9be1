"""`advtext image ...`: MNIST models and the image-domain attacks."""

from __future__ import annotations

import time
from pathlib import Path

import click

from advtext import strict_json
from advtext.distributed import note
from advtext.errors import AdvtextError


def _positive(ctx, param, value):
    if value is not None and value <= 0:
        raise click.BadParameter(f"must be a positive integer, got {value}")
    return value


@click.group()
def image():
    """MNIST classifiers, image attacks (FGSM, BIM, PGD, JSMA, L-BFGS, C&W) and defences on the shared engine."""


def training_options(f):
    """The options every command that trains an MNIST model shares."""
    for option in reversed([
        click.option("--model", "architecture", type=click.Choice(["cnn", "mlp", "linear"]), default="cnn",
                     show_default=True, help="small CNN, fully connected net, or shallow softmax"),
        click.option("--hidden-size", type=int, default=128, show_default=True, callback=_positive),
        click.option("--train-size", type=int, default=None, callback=_positive,
                     help="use only the first N training images (default all 60,000 minus validation)"),
        click.option("--val-size", type=int, default=5000, show_default=True, callback=_positive,
                     help="training images held out (the last N) for early stopping"),
        click.option("--epochs", type=int, default=3, show_default=True, callback=_positive),
        click.option("--batch-size", type=int, default=128, show_default=True, callback=_positive),
        click.option("--lr", type=float, default=1e-3, show_default=True),
        click.option("--patience", type=int, default=2, show_default=True, callback=_positive),
        click.option("--seed", type=int, default=0, show_default=True),
        click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda[:N]"),
        click.option("--out", type=click.Path(path_type=Path), required=True, help="run directory to write"),
        click.option("--overwrite", is_flag=True, help="replace a model already in --out"),
    ]):
        f = option(f)
    return f


def train_image_run(architecture, hidden_size, train_size, val_size, epochs, batch_size, lr, patience, seed, device,
                    out, overwrite, step=None, epoch_start=None, what: str = "training", **info):
    """Train an MNIST model on the shared loop (``step`` replaces plain cross-entropy; ``epoch_start(epoch)`` runs
    before each epoch), report on the test split, and save the run (``info`` goes into its config); returns the
    classifier."""
    from advtext.checkpoint import PROGRESS, check_run_dir
    from advtext.distributed import barrier, world
    from advtext.engine import select_device
    from advtext.image.classifier import ImageClassifier
    from advtext.image.mnist import load_mnist
    from advtext.image.models import ImageModelConfig, build_image_model
    from advtext.image.train import fit_images
    from advtext.report import print_classification_report
    from advtext.training import TrainSettings, classification_report, seed_everything

    run_dir = check_run_dir(out, overwrite)
    dev = select_device(device) if isinstance(device, str) else device
    x, y = load_mnist("train")
    if val_size >= len(y):
        raise AdvtextError(f"--val-size {val_size} leaves no training images: choose fewer than {len(y)}")
    x_val, y_val = x[-val_size:], y[-val_size:]
    x, y = x[:-val_size][:train_size], y[:-val_size][:train_size]
    seed_everything(seed)
    cfg = ImageModelConfig(architecture=architecture, hidden_size=hidden_size)
    clf = ImageClassifier(build_image_model(cfg).to(dev), dev)
    note(f"{what} {architecture} on MNIST: {len(y)} train / {len(y_val)} validation images, device {dev}")
    settings = TrainSettings(epochs=epochs, batch_size=batch_size, lr=lr, patience=patience, seed=seed)
    run_dir.mkdir(parents=True, exist_ok=True)
    identity = {"model": cfg.to_dict(), "train_size": len(y), "val_size": val_size, "train": settings.__dict__,
                **info}
    history = fit_images(clf, x, y, x_val, y_val, settings, log=lambda m: click.echo(m, err=True), step=step,
                         progress_file=run_dir / PROGRESS, identity=identity, epoch_start=epoch_start)
    if world().main:  # under torchrun rank 0 alone writes the run, and the others wait for it
        report = classification_report(clf, *load_mnist("test"))
        clf.save(run_dir, corpus="mnist", seed=seed, train=settings.__dict__, history=history, test=report,
                 created=time.strftime("%Y-%m-%dT%H:%M:%S"), **info)
        print_classification_report(report, f"{architecture} on MNIST test split")
        click.echo(f"saved {run_dir}")
    barrier("rank 0 saved the run")
    return clf


@image.command()
@training_options
def train(**options):
    """Train an MNIST classifier and write it (weights, config, report) to --out."""
    train_image_run(**options)


@image.command()
@click.option("--method", type=click.Choice(["fgsm", "pgd"]), default="fgsm", show_default=True,
              help="fgsm: Goodfellow et al. 2015's mixed loss; pgd: Madry et al. 2018's PGD examples")
@click.option("--eps", type=float, default=0.25, show_default=True, help="L-infinity radius (pixels in [0, 1])")
@click.option("--alpha", type=float, default=0.5, show_default=True,
              help="weight of the clean loss: alpha * CE(x) + (1 - alpha) * CE(x_adv) (Madry: 0)")
@click.option("--steps", type=int, default=40, show_default=True, callback=_positive, help="pgd: steps")
@click.option("--step-size", type=float, default=0.01, show_default=True, help="pgd: step size")
@click.option("--random-start/--no-random-start", default=True, show_default=True,
              help="pgd: uniform start in the ball")
@training_options
def harden(method, eps, alpha, steps, step_size, random_start, **options):
    """Adversarial training of an MNIST model against FGSM (Goodfellow 2015) or PGD (Madry 2018)."""
    from advtext.cli import given
    from advtext.defenses.image_hardening import ImageAdversarialStep, ImageHardenSettings

    settings = ImageHardenSettings(method=method, eps=eps, alpha=alpha, steps=steps, step_size=step_size,
                                   random_start=random_start)
    unused = given(["steps", "step_size", "random_start"]) if method == "fgsm" else []
    if unused:
        raise AdvtextError(f"{', '.join(unused)} has no effect with --method fgsm: drop it, or use --method pgd")
    step = ImageAdversarialStep(settings, options["seed"])
    train_image_run(**options, step=step, epoch_start=step.epoch_start, what="hardening",
                    hardening=settings.to_dict())


@image.command()
@click.option("--temperature", type=float, default=100.0, show_default=True,
              help="softmax temperature of teacher and student in training (the student is deployed at 1)")
@click.option("--teacher", "teacher_run", type=click.Path(path_type=Path), default=None,
              help="a teacher already trained at this temperature (default: train one into OUT/teacher)")
@training_options
def distill(temperature, teacher_run, **options):
    """Defensive distillation (Papernot et al. 2016): a teacher trained at temperature T, a student of the same
    architecture trained on its soft labels at T, saved to predict at T = 1."""
    from advtext.cli import given
    from advtext.defenses.distillation import DistillationStep, TemperatureStep, check_temperature
    from advtext.image.classifier import ImageClassifier

    check_temperature(temperature)
    out = options["out"]
    shape = given(["architecture", "hidden_size"])
    if teacher_run is None:
        teacher_run = out / "teacher"
        if (teacher_run / "model.safetensors").exists() and not options["overwrite"]:
            if shape:
                raise AdvtextError(f"{teacher_run} is reused, and the student copies its model: drop "
                                   f"{', '.join(shape)}, or pass --overwrite to train a new teacher")
            note(f"reusing the teacher in {teacher_run}")
        else:
            train_image_run(**{**options, "out": teacher_run}, step=TemperatureStep(temperature),
                            what=f"training the teacher (temperature {temperature}),",
                            distillation={"role": "teacher", "temperature": temperature})
    elif shape:
        raise AdvtextError(f"the student copies the model of --teacher {teacher_run}: drop {', '.join(shape)}")
    teacher = ImageClassifier.load(teacher_run, options["device"])
    options.update(architecture=teacher.config.architecture, hidden_size=teacher.config.hidden_size)
    found = teacher.info.get("distillation", {}).get("temperature")
    if found != temperature:
        raise AdvtextError(f"{teacher_run} was trained at temperature {found}, not {temperature}: give a teacher of "
                           "this temperature, or drop --teacher to train one")
    train_image_run(**options, step=DistillationStep(teacher.model, temperature), what="distilling",
                    distillation={"role": "student", "temperature": temperature, "deployed_temperature": 1,
                                  "teacher": str(teacher_run)})


def _floats(text: str, name: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise AdvtextError(f"{name} {text!r} is not a comma-separated list of numbers, e.g. 0.05,0.1,0.25") from None


def _samples(clf, offset: int, all_samples: bool):
    """Test images from ``offset`` on (only correctly classified ones unless ``all_samples``)."""
    import torch

    from advtext.image.mnist import load_mnist

    x, y = load_mnist("test", offset=offset)
    index = torch.arange(offset, offset + len(y))
    if not all_samples:
        keep = clf.logits(x).argmax(1) == y
        x, y, index = x[keep], y[keep], index[keep]
    return x, y, index


def _print_table(rows: list[dict], columns: dict[str, str], title: str) -> None:
    """A rich table of ``rows``; ``columns`` maps each key to its (short) header."""
    from rich.table import Table

    from advtext.report import console

    table = Table(title=title)
    for header in columns.values():
        table.add_column(header, justify="right")
    for r in rows:
        table.add_row(*("-" if r.get(c) is None else f"{r[c]:.4g}" if isinstance(r[c], float) else str(r[c])
                        for c in columns))
    console.print(table)


METHOD_OPTIONS = {  # option -> the methods that read it (the others refuse it rather than ignore it)
    "eps": ("fgsm", "bim", "pgd"), "norm": ("fgsm", "bim", "pgd"), "steps": ("bim", "pgd"),
    "step_size": ("bim", "pgd"), "theta": ("jsma",), "gamma": ("jsma",), "saturation": ("jsma",),
    "saliency": ("jsma",), "c_init": ("cw",), "kappa": ("cw",), "cw_steps": ("cw",), "cw_lr": ("cw",),
    "search_steps": ("cw",)}
SUMMARY_COLUMNS = {"eps": "eps", "n": "n", "success_rate": "success", "accuracy": "acc", "mean_l0": "L0",
                   "mean_l2": "L2", "mean_linf": "Linf", "seconds": "s", "samples_per_s": "/s"}


@image.command()
@click.argument("run", type=click.Path(path_type=Path))
@click.option("--method", type=click.Choice(["fgsm", "bim", "pgd", "jsma", "lbfgs", "cw"]), default="fgsm",
              show_default=True)
@click.option("--eps", default="0.25", show_default=True,
              help="comma-separated epsilons (fgsm, bim, pgd); several give an accuracy-versus-epsilon curve")
@click.option("--norm", type=click.Choice(["inf", "2"]), default="inf", show_default=True,
              help="L-infinity (FGSM) or L2 (FGM)")
@click.option("--steps", type=int, default=10, show_default=True, callback=_positive, help="bim/pgd iterations")
@click.option("--step-size", type=float, default=None, help="bim/pgd step (default max(eps/4, 2.5*eps/steps))")
@click.option("--theta", type=float, default=1.0, show_default=True,
              help="JSMA change per feature: +1 increasing, -1 decreasing variant")
@click.option("--gamma", type=float, default=0.145, show_default=True,
              help="JSMA maximum fraction of features changed (Papernot 2016: 14.5%)")
@click.option("--saturation", type=float, default=0.0, show_default=True,
              help="JSMA: features within this fraction of the box from the edge they move toward leave the "
                   "search domain; 0 is the paper's rule (only features at the edge leave), torchattacks uses 0.01")
@click.option("--saliency", type=click.Choice(["logits", "probs"]), default="probs", show_default=True,
              help="JSMA: differentiate the softmax probabilities (the paper's JSMA-F) or the logits (torchattacks)")
@click.option("--c-init", type=float, default=0.01, show_default=True, help="cw: first constant c of the search")
@click.option("--kappa", type=float, default=0.0, show_default=True, help="cw: confidence margin on the logits")
@click.option("--cw-steps", type=int, default=300, show_default=True, callback=_positive,
              help="cw: Adam steps per constant (a pixel at 0 or 1 starts where tanh is flat: it needs hundreds)")
@click.option("--cw-lr", type=float, default=0.01, show_default=True, help="cw: Adam learning rate")
@click.option("--search-steps", type=int, default=6, show_default=True, callback=_positive,
              help="cw: constants tried per image (bisection; 1 runs --c-init alone, as torchattacks does)")
@click.option("--goal", default="untargeted", show_default=True, help="untargeted, targeted:T or source-target:S:T")
@click.option("--all-targets", is_flag=True, help="attack every sample toward each of the other classes")
@click.option("--limit", "--n", "count", type=int, default=100, show_default=True, callback=_positive,
              help="number of test images")
@click.option("--offset", type=int, default=0, show_default=True, help="first test image")
@click.option("--all-samples", is_flag=True, help="also attack test images the model already gets wrong")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", default="auto", show_default=True)
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="folder for records.jsonl, summary.json and plots (default RUN/attack-METHOD)")
def attack(run, method, eps, norm, steps, step_size, theta, gamma, saturation, saliency, c_init, kappa, cw_steps,
           cw_lr, search_steps, goal, all_targets, count, offset, all_samples, seed, device, out):
    """Attack a saved MNIST model; write JSONL records, a summary, an example grid and the epsilon curve."""
    import math

    from advtext.cli import given
    from advtext.distributed import world
    from advtext.goals import parse_goal
    from advtext.image.attack import AttackSettings, run_attack
    from advtext.image.classifier import ImageClassifier
    from advtext.image.fgsm import check_eps
    from advtext.image.jsma import all_other_targets, check_jsma_args
    from advtext.image.plots import epsilon_curve, example_grid

    unused = given([name for name, methods in METHOD_OPTIONS.items() if method not in methods])
    if unused:
        raise AdvtextError(f"{', '.join(unused)} has no effect with --method {method}: drop it, or choose a method "
                           "that uses it")
    epsilons = _floats(eps, "--eps")
    check_eps(epsilons, norm=math.inf if norm == "inf" else 2.0)
    if method == "jsma":
        check_jsma_args(theta, gamma, saturation, saliency)
    clf = ImageClassifier.load(run, device)
    parsed = parse_goal(goal, clf.num_classes)
    if parsed.name == "confidence":
        raise AdvtextError(f"goal {goal!r} is not supported for images: "
                           "use untargeted, targeted:T or source-target:S:T")
    if all_targets and parsed.name != "untargeted":
        raise AdvtextError("--all-targets picks the targets itself: drop --goal")
    if method == "jsma" and parsed.name == "untargeted" and not all_targets:
        raise AdvtextError("JSMA is a targeted attack: pass --goal targeted:T or --all-targets")
    x, y, index = _samples(clf, offset, all_samples)
    keep = parsed.applies(y)  # targeted goals leave out rows already of the target class
    x, y, index = x[keep][:count], y[keep][:count], index[keep][:count]
    target = parsed.target(y)
    if all_targets:
        rows, target = all_other_targets(y, clf.num_classes)
        x, y, index = x[rows], y[rows], index[rows]
    if len(y) == 0:
        raise AdvtextError("no test image to attack: raise --n, change --offset or the goal's classes")
    settings = AttackSettings(method=method, epsilons=epsilons, norm=math.inf if norm == "inf" else 2.0, steps=steps,
                              step_size=step_size, theta=theta, gamma=gamma, saturation=saturation,
                              saliency=saliency, cw_c=c_init, cw_kappa=kappa, cw_steps=cw_steps, cw_lr=cw_lr,
                              cw_search_steps=search_steps, seed=seed)
    dev = clf.device
    note(f"{method} on {run}: {len(y)} attacks, goal {'all other targets' if all_targets else goal}, "
         f"device {dev}")
    records, summaries, examples = run_attack(clf.model, x.to(dev), y.to(dev), index,
                                              None if target is None else target.to(dev), settings)
    if not world().main:  # under torchrun rank 0 writes what every rank crafted
        return
    out = out or Path(run) / f"attack-{method}"
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "records.jsonl", "w", encoding="utf-8") as f:
        f.writelines(strict_json.dumps(r) + "\n" for r in records)
    summary = {"run": str(run), "goal": "all-targets" if all_targets else goal,
               "settings": {**settings.__dict__, "norm": norm}, "results": summaries}  # norm as given: "inf" or "2"
    (out / "summary.json").write_text(strict_json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    title = f"{method} on {Path(run).name}" + (f" ({saliency}, saturation {saturation})" if method == "jsma" else "")
    ex = examples
    example_grid(ex["x"].cpu(), ex["adv"].cpu(), ex["y"].cpu(), ex["pred"].cpu(), out / "examples.png",
                 title + ("" if math.isnan(ex["eps"]) else f", eps {ex['eps']}"))
    if len(epsilons) > 1 and method in ("fgsm", "bim", "pgd"):
        epsilon_curve({method: summaries}, out / "epsilon_curve.png", title,
                      "epsilon (L2)" if norm == "2" else "epsilon (L-infinity)")
    _print_table(summaries, SUMMARY_COLUMNS, title + " (mean sizes over successes; L0 as a fraction)")
    click.echo(f"wrote {out}/records.jsonl, summary.json, examples.png"
               + (", epsilon_curve.png" if len(epsilons) > 1 and method in ("fgsm", "bim", "pgd") else ""))


@image.command("eval")
@click.argument("run", type=click.Path(path_type=Path))
@click.option("--limit", "--n", "count", type=int, default=100, show_default=True, callback=_positive,
              help="correctly classified test images for the robustness metric")
@click.option("--metric", type=click.Choice(["fgsm", "jsma", "cw", "both", "all", "none"]), default="both",
              show_default=True, help="robustness: minimal FGSM epsilon (bisection), minimal JSMA L0 fraction over all "
                                      "targets, minimal C&W L2 (on the logits); both: fgsm and jsma; all: the three")
@click.option("--gamma", type=float, default=0.145, show_default=True, help="JSMA distortion budget")
@click.option("--device", default="auto", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="print the report as JSON")
def eval_cmd(run, count, metric, gamma, device, as_json):
    """Test accuracy and the robustness metric of Papernot et al. 2016 (mean minimal perturbation)."""

    from advtext.engine import attack_mode
    from advtext.image.classifier import ImageClassifier
    from advtext.image.jsma import check_jsma_args
    from advtext.image.mnist import load_mnist
    from advtext.image.robustness import cw_minimal_l2, fgsm_minimal_eps, jsma_minimal_l0, summarize
    from advtext.report import print_classification_report
    from advtext.training import classification_report

    check_jsma_args(1.0, gamma)
    clf = ImageClassifier.load(run, device)
    report = {"test": classification_report(clf, *load_mnist("test")), "robustness": {}}
    x, y, _ = _samples(clf, 0, False)
    x, y = x[:count].to(clf.device), y[:count].to(clf.device)
    with attack_mode(clf.model) as m:
        if metric in ("fgsm", "both", "all"):
            report["robustness"]["fgsm_linf_eps"] = summarize(fgsm_minimal_eps(m, x, y))
        if metric in ("cw", "all"):
            report["robustness"]["cw_l2"] = summarize(cw_minimal_l2(m, x, y))
        if metric in ("jsma", "both", "all"):
            report["robustness"]["jsma_l0_fraction"] = summarize(jsma_minimal_l0(m, x, y, clf.num_classes,
                                                                                 gamma=gamma))
    if as_json:
        click.echo(strict_json.dumps(report, indent=1))
        return
    print_classification_report(report["test"], f"{run} on MNIST test split")
    if not report["robustness"]:
        return
    _print_table([{"metric": k, **v} for k, v in report["robustness"].items()],
                 {"metric": "minimal perturbation", "n": "n", "found": "found", "mean": "mean", "median": "median"},
                 "robustness (Papernot 2016): mean minimal perturbation that changes the class")


@image.command()
@click.argument("run", type=click.Path(path_type=Path))
@click.option("--unit", type=int, default=0, show_default=True, help="hidden unit of the last hidden layer")
@click.option("--top", type=int, default=8, show_default=True, callback=_positive, help="images per row")
@click.option("--seed", type=int, default=0, show_default=True, help="seed of the random direction")
@click.option("--device", default="auto", show_default=True)
@click.option("--out", type=click.Path(path_type=Path), default=None, help="PNG to write (default RUN/probe.png)")
def probe(run, unit, top, seed, device, out):
    """Szegedy 2013: test images that most activate one hidden unit, beside a random direction's."""
    import torch

    from advtext.image.classifier import ImageClassifier
    from advtext.image.mnist import load_mnist
    from advtext.image.plots import image_rows
    from advtext.image.probe import hidden_features
    from advtext.probe import unit_and_random_direction

    clf = ImageClassifier.load(run, device)
    x, _ = load_mnist("test")
    features = hidden_features(clf.model, x.to(clf.device)).cpu()
    if not 0 <= unit < features.shape[1]:
        raise AdvtextError(f"unit {unit} out of range: the hidden layer has units 0..{features.shape[1] - 1}")
    picked = unit_and_random_direction(features, unit, top, torch.Generator().manual_seed(seed))
    out = out or Path(run) / "probe.png"
    image_rows({name: x[idx] for name, idx in picked.items()}, out,
               f"{Path(run).name}: top test images for a unit and for a random direction")
    click.echo(f"wrote {out}")
