"""The `advtext image` commands end to end on a model trained for seconds, and their bad-input errors."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from advtext.engine import attack_mode, evaluate
from advtext.image.classifier import ImageClassifier
from advtext.image.fgsm import fast_gradient_method
from advtext.image.jsma import jsma
from advtext.image.lbfgs import lbfgs_attack, second_best_class
from advtext.image.mnist import load_mnist
from advtext.image.robustness import fgsm_minimal_eps

ROOT = Path(__file__).resolve().parents[1]


def advtext(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "cli.py"), *args], capture_output=True, text=True, cwd=ROOT)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "mlp"
    done = advtext("image", "train", "--model", "mlp", "--hidden-size", "64", "--train-size", "3000",
                   "--val-size", "1000", "--epochs", "3", "--lr", "3e-3", "--batch-size", "64", "--device", "cpu",
                   "--out", str(out))
    assert done.returncode == 0, done.stderr
    return out


def test_train_writes_image_run(run_dir):
    config = json.loads((run_dir / "config.json").read_text())
    assert config["domain"] == "image" and config["model"]["architecture"] == "mlp"
    assert config["test"]["accuracy"] > 0.8
    assert ImageClassifier.load(run_dir, "cpu").num_classes == 10


def test_attack_fgsm_curve_records_and_plots(run_dir, tmp_path):
    done = advtext("image", "attack", str(run_dir), "--method", "fgsm", "--eps", "0,0.1,0.25", "--n", "30",
                   "--device", "cpu", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in (tmp_path / "records.jsonl").read_text().splitlines()]
    assert len(records) == 90 and {r["eps"] for r in records} == {0.0, 0.1, 0.25}
    results = json.loads((tmp_path / "summary.json").read_text())["results"]
    assert results[0]["accuracy"] == 1.0 and results[2]["accuracy"] < results[1]["accuracy"] <= 1.0
    assert (tmp_path / "examples.png").stat().st_size > 0 and (tmp_path / "epsilon_curve.png").stat().st_size > 0


@pytest.mark.parametrize("options,settings", [([], {"saliency": "probs", "saturation": 0.0}),
                                              (["--saliency", "logits", "--saturation", "0.01"],
                                               {"saliency": "logits", "saturation": 0.01})])
def test_attack_jsma_records_match_a_recomputation(run_dir, tmp_path, options, settings):
    done = advtext("image", "attack", str(run_dir), "--method", "jsma", "--goal", "targeted:3", "--n", "10",
                   *options, "--device", "cpu", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in (tmp_path / "records.jsonl").read_text().splitlines()]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["settings"].items() >= {"method": "jsma", "gamma": 0.145, **settings}.items()
    assert len(records) == 10 and all(r["target"] == 3 and r["label"] != 3 for r in records)
    # craft the same adversarials here and classify them outside the attack: the records must agree
    clf = ImageClassifier.load(run_dir, "cpu")
    x, y = load_mnist("test", limit=max(r["id"] for r in records) + 1)
    index = torch.tensor([r["id"] for r in records])
    x, y = x[index], y[index]
    assert y.tolist() == [r["label"] for r in records] and (clf.logits(x).argmax(1) == y).all()
    with attack_mode(clf.model) as m:
        adv = jsma(m, x, torch.full((10,), 3), gamma=0.145, **settings)
    pred = clf.logits(adv).argmax(1)
    assert [r["pred_after"] for r in records] == pred.tolist()
    assert [r["pred_before"] for r in records] == y.tolist()
    assert [r["status"] for r in records] == ["succeeded" if p == 3 else "failed" for p in pred.tolist()]
    delta = (adv - x).flatten(1)
    sizes = {"l0": (delta != 0).float().mean(1), "l2": delta.norm(dim=1), "linf": delta.abs().amax(1)}
    for key, value in sizes.items():
        assert [r[key] for r in records] == pytest.approx(value.tolist(), abs=1e-5)
    assert max(r["l0"] for r in records) <= 0.145
    assert summary["results"][0]["success_rate"] == pytest.approx(float((pred == 3).float().mean()))


@pytest.mark.parametrize("args,message", [
    (["attack", "{run}", "--eps", "1.5"], "outside [0, 1]"),
    (["attack", "{run}", "--eps", "-0.1"], "outside [0, 1]"),
    (["attack", "{run}", "--method", "jsma", "--all-targets", "--gamma", "0"], "gamma"),
    (["attack", "{run}", "--method", "jsma", "--all-targets", "--gamma", "1.2"], "gamma"),
    (["attack", "{run}", "--goal", "targeted:10"], "out of range"),
    (["attack", "{run}", "--method", "jsma"], "targeted"),
    (["attack", "{run}", "--method", "jsma", "--all-targets", "--saturation", "-0.1"], "saturation"),
    (["attack", "{run}", "--method", "jsma", "--all-targets", "--saturation", "1"], "saturation"),
    (["probe", "{run}", "--unit", "999"], "out of range"),
    (["attack", "{run}", "--method", "fgsm", "--kappa", "1"], "--kappa has no effect with --method fgsm"),
    (["attack", "{run}", "--method", "cw", "--eps", "0.3", "--gamma", "0.1"], "--eps, --gamma has no effect"),
    (["attack", "{run}", "--method", "cw", "--cw-steps", "0"], "cw-steps"),
])
def test_bad_input_is_one_line(run_dir, args, message):
    done = advtext("image", *[a.format(run=run_dir) for a in args])
    assert done.returncode == 2
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


def test_wrong_domain_is_refused_both_ways(run_dir, tmp_path):
    text_run = tmp_path / "text"
    text_run.mkdir()
    (text_run / "model.safetensors").write_bytes(b"")
    (text_run / "config.json").write_text(json.dumps({"domain": "text"}))
    for done in (advtext("image", "attack", str(text_run)), advtext("eval", str(run_dir), "--corpus", "imdb")):
        assert done.returncode == 2 and "Traceback" not in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1 and "model, not a" in done.stderr


def test_lbfgs_finds_smaller_l2_than_fgsm(run_dir):
    clf = ImageClassifier.load(run_dir, "cpu")
    x, y = load_mnist("test", limit=60)
    keep = clf.logits(x).argmax(1) == y
    x, y = x[keep][:12], y[keep][:12]
    with attack_mode(clf.model) as m:
        eps = fgsm_minimal_eps(m, x, y)
        fgsm = fast_gradient_method(m, x, eps.nan_to_num(1.0), y=y)
        target = second_best_class(m, x)
        lbfgs = lbfgs_attack(m, x, target, search_steps=4, max_iter=20)
        both = (evaluate(m, fgsm).argmax(1) != y) & (evaluate(m, lbfgs).argmax(1) != y)
    moved = (lbfgs != x).flatten(1).any(1)  # rows that never reach the target come back unchanged
    assert (clf.logits(lbfgs[moved]).argmax(1) == target[moved]).all() and moved.sum() >= 10
    assert both.sum() >= 8
    l2 = {k: (v - x).flatten(1).norm(dim=1)[both] for k, v in {"fgsm": fgsm, "lbfgs": lbfgs}.items()}
    assert (l2["lbfgs"] < l2["fgsm"]).float().mean() >= 0.9
    assert l2["lbfgs"].mean() < l2["fgsm"].mean()
    assert lbfgs.min() >= 0 and lbfgs.max() <= 1


def test_torchrun_shards_an_image_attack_without_changing_a_record(run_dir, tmp_path):
    """PGD's random starts are drawn per image: two ranks (pieces of 500 images: 0 and 2 to rank 0, 1 to rank
    1) craft what one process crafts."""
    args = ["image", "attack", str(run_dir), "--method", "pgd", "--eps", "0.1", "--steps", "3", "--limit", "1100",
            "--device", "cpu"]
    one = subprocess.run([sys.executable, "-m", "advtext", *args, "--out", str(tmp_path / "one")],
                         capture_output=True, text=True, cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert one.returncode == 0, one.stderr
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                          "-m", "advtext", *args, "--out", str(tmp_path / "two")], capture_output=True, text=True,
                         cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert two.returncode == 0, two.stderr[-3000:]

    def records(folder):
        return [{k: v for k, v in json.loads(line).items() if k != "seconds"}
                for line in (folder / "records.jsonl").read_text().splitlines()]

    assert records(tmp_path / "two") == records(tmp_path / "one")
    assert len(records(tmp_path / "one")) == 1100


def test_torchrun_trains_with_two_ranks_and_rank_0_writes_the_run(tmp_path):
    out = tmp_path / "mlp-ddp"
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                           "-m", "advtext", "image", "train", "--model", "mlp", "--hidden-size", "64", "--train-size",
                           "3000", "--val-size", "1000", "--epochs", "2", "--lr", "3e-3", "--batch-size", "64",
                           "--device", "cpu", "--out", str(out)], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("saved") == 1  # rank 0 alone reports and writes
    config = json.loads((out / "config.json").read_text())
    assert config["test"]["accuracy"] > 0.8 and len(config["history"]) == 2
    assert not (out / "training-progress.safetensors").exists()
