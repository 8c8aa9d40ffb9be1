"""Image defences and the attack that sees through distillation: C&W L2, defensive distillation, FGSM/PGD
adversarial training, on the API and through `advtext image`."""

import json

import pytest
import torch
from test_bad_input import one_line_error
from test_image_cli import advtext

from advtext.defenses.distillation import DistillationStep, TemperatureStep
from advtext.defenses.image_hardening import ImageAdversarialStep, ImageHardenSettings
from advtext.engine import attack_mode
from advtext.image.classifier import ImageClassifier
from advtext.image.cw import carlini_wagner_l2
from advtext.image.fgsm import fast_gradient_method


class TemperatureScaled(torch.nn.Module):
    """A teacher as it was trained: its logits divided by T."""

    def __init__(self, inner: torch.nn.Module, temperature: float):
        super().__init__()
        self.inner, self.temperature, self.cfg = inner, temperature, inner.cfg

    def forward(self, x):
        return self.inner(x) / self.temperature


def linear_model(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = torch.nn.Linear(8, 2)
    model.weight.data = torch.randn(2, 8)
    model.bias.data = torch.zeros(2)
    return model.eval()


def test_cw_finds_the_closed_form_minimal_perturbation_of_a_linear_model():
    """For two classes and a linear model the smallest L2 change that flips the class is |margin| / ||w1 - w0||;
    C&W's search gets within a few percent of it, and every row keeps a success."""
    model = linear_model()
    x = 0.4 + 0.2 * torch.rand(16, 8)  # far from the box's edges, where the exact answer is not clipped
    y = model(x).argmax(1)
    with attack_mode(model) as m:
        adv = carlini_wagner_l2(m, x, y, steps=300, lr=0.01, search_steps=8, c_init=0.1)
    assert (model(adv).argmax(1) != y).all()
    w = model.weight[1] - model.weight[0]
    exact = (x @ w).abs() / w.norm()
    found = (adv - x).norm(dim=1)
    assert ((found >= exact * 0.999) & (found <= exact * 1.05)).all(), (found / exact)


def test_batched_cw_equals_one_at_a_time():
    model = linear_model(1)
    x = torch.rand(6, 8)
    y = model(x).argmax(1)
    with attack_mode(model) as m:
        batched = carlini_wagner_l2(m, x, y, steps=30, search_steps=3)
        alone = torch.cat([carlini_wagner_l2(m, x[i : i + 1], y[i : i + 1], steps=30, search_steps=3)
                           for i in range(6)])
    torch.testing.assert_close(batched, alone, atol=1e-6, rtol=0)
    assert (batched >= 0).all() and (batched <= 1).all()  # the tanh box


def test_soft_labels_sum_to_one_and_flatten_as_the_temperature_grows():
    logits = linear_model(4)(torch.rand(20, 8)) * 10
    soft = [torch.softmax(logits / t, -1) for t in (1.0, 10.0, 100.0)]
    assert all(torch.allclose(s.sum(-1), torch.ones(20)) for s in soft)
    peaks = [s.amax(-1).mean().item() for s in soft]
    assert peaks[0] > peaks[1] > peaks[2] > 0.5


def test_cw_targeted_reaches_the_target_with_the_margin_asked_for():
    """A linear model, whose target regions are convex: the runner-up class is reached with the margin kappa
    wherever the box allows it, and a row whose target is out of reach comes back unchanged."""
    torch.manual_seed(0)
    model = torch.nn.Linear(8, 4).eval()
    model.weight.data = 3 * torch.randn(4, 8)
    x = torch.rand(10, 8)
    target = model(x).topk(2, dim=1).indices[:, 1]
    target[0] = model(x[:1]).argmin(1)  # the least likely class of row 0, with a margin the box may not allow
    with attack_mode(model) as m:
        adv = carlini_wagner_l2(m, x, target, targeted=True, kappa=0.5, steps=300, search_steps=8)
    logits = model(adv)
    hit = logits.argmax(1) == target
    assert hit[1:].all()
    top_other = logits.scatter(1, target[:, None], -float("inf")).amax(1)
    assert (logits.gather(1, target[:, None]).squeeze(1)[hit] - top_other[hit] >= 0.5 - 1e-4).all()
    assert torch.equal(adv[~hit], x[~hit])  # a row never fooled comes back unchanged


def test_distillation_steps_are_the_papers_losses():
    model, teacher = linear_model(2).train(), linear_model(3)
    x, y = torch.rand(5, 8), torch.tensor([0, 1, 1, 0, 1])
    figures = TemperatureStep(20.0)(model, x, y)
    assert figures["loss"] == pytest.approx(torch.nn.functional.cross_entropy(model(x) / 20, y).item())
    model.zero_grad()
    figures = DistillationStep(teacher, 20.0)(model, x, y)
    soft = torch.softmax(teacher(x) / 20, -1)
    expected = -(soft * torch.log_softmax(model(x) / 20, -1)).sum(-1).mean()
    assert figures["loss"] == pytest.approx(expected.item())
    assert model.weight.grad is not None and not any(p.requires_grad for p in teacher.parameters())


def test_fgsm_training_step_is_goodfellows_mixed_loss():
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(8, 2)).train()
    x, y = torch.rand(6, 1, 8), torch.tensor([0, 1, 0, 1, 1, 0])
    figures = ImageAdversarialStep(ImageHardenSettings(method="fgsm", eps=0.1, alpha=0.3))(model, x, y)
    with attack_mode(model) as m:
        adv = fast_gradient_method(m, x, 0.1, y=y)
    ce = torch.nn.functional.cross_entropy
    assert figures["loss"] == pytest.approx((0.3 * ce(model(x), y) + 0.7 * ce(model(adv), y)).item(), rel=1e-5)


def test_pgd_training_starts_depend_on_the_image_and_epoch_not_on_the_rank_or_a_resume():
    """Each image's random start comes from (seed, epoch, its pixels): a torchrun rank's share of a batch gets
    the starts one process gives those images, a resumed run the starts of the epoch it resumes, and each
    epoch new ones."""
    x = torch.rand(6, 1, 8)
    step = ImageAdversarialStep(ImageHardenSettings(method="pgd", eps=0.1, steps=2, step_size=0.05), seed=3)
    step.epoch_start(1)
    whole = step.random_starts(x)
    assert torch.equal(torch.cat([step.random_starts(x[0::2]), step.random_starts(x[1::2])])[[0, 3, 1, 4, 2, 5]],
                       whole)
    again = ImageAdversarialStep(step.settings, seed=3)  # a new process, as after a resume
    again.epoch_start(1)
    assert torch.equal(again.random_starts(x), whole)
    again.epoch_start(2)
    assert not torch.equal(again.random_starts(x), whole)
    assert whole.abs().max() <= 0.1 and len({tuple(r.flatten().tolist()) for r in whole}) == 6


@pytest.mark.parametrize("args,needle", [
    (["--eps", "0"], "--eps 0.0"), (["--alpha", "1"], "--alpha 1.0"), (["--steps", "3"], "--steps")])
def test_bad_hardening_options(args, needle, tmp_path):
    done = advtext("image", "harden", *args, "--train-size", "100", "--out", str(tmp_path / "x"))
    one_line_error(done.returncode, done.stderr, needle)


def test_distill_harden_and_cw_through_the_cli(tmp_path):
    common = ["--model", "mlp", "--hidden-size", "32", "--train-size", "2000", "--val-size", "500", "--epochs", "4",
              "--lr", "1e-2", "--device", "cpu"]
    distilled = tmp_path / "distilled"
    done = advtext("image", "distill", *common, "--temperature", "20", "--out", str(distilled))
    assert done.returncode == 0, done.stderr
    config = json.loads((distilled / "config.json").read_text())
    assert config["distillation"] == {"role": "student", "temperature": 20.0, "deployed_temperature": 1,
                                      "teacher": str(distilled / "teacher")}
    assert config["test"]["accuracy"] > 0.6  # a high temperature learns slowly: logits must grow T times larger
    # deployed at T = 1: a saturated softmax (the source of the masked gradients)
    student = ImageClassifier.load(distilled, "cpu")
    teacher = ImageClassifier.load(distilled / "teacher", "cpu")
    from advtext.image.jsma import all_other_targets, jsma
    from advtext.image.mnist import load_mnist

    x, y = load_mnist("test")
    hot = ImageClassifier(TemperatureScaled(teacher.model, 20.0), teacher.device)
    peaks = {name: clf.predict_proba(x[:200]).amax(1).mean().item() for name, clf in (("student", student),
                                                                                      ("teacher at T", hot))}
    assert peaks["student"] > 0.95 and peaks["student"] > peaks["teacher at T"] + 0.2, peaks
    # JSMA follows the softmax: it fails on the distilled net where it works on the teacher deployed at T; C&W
    # on the logits works on both
    keep = (student.logits(x[:100]).argmax(1) == y[:100]) & (teacher.logits(x[:100]).argmax(1) == y[:100])
    xs, ys = x[:100][keep][:10], y[:100][keep][:10]
    rows, targets = all_other_targets(ys, 10)
    rates = {}
    for name, clf in (("student", student), ("teacher", hot)):
        with attack_mode(clf.model) as m:
            rates[name] = (clf.logits(jsma(m, xs[rows], targets)).argmax(1) == targets).float().mean().item()
            cw = carlini_wagner_l2(m, xs, ys, steps=200, search_steps=3, c_init=0.1)
            assert (clf.logits(cw).argmax(1) != ys).float().mean() >= 0.9, name
    assert rates["student"] < 0.2 < rates["teacher"], rates
    done = advtext("image", "distill", *common, "--teacher", str(distilled / "teacher"), "--out", str(tmp_path / "o"))
    one_line_error(done.returncode, done.stderr, "copies the model of --teacher", "--model, --hidden-size")
    done = advtext("image", "distill", *common[4:], "--temperature", "50", "--teacher", str(distilled / "teacher"),
                   "--out", str(tmp_path / "other"))
    one_line_error(done.returncode, done.stderr, "temperature 20.0, not 50.0")

    hardened = tmp_path / "hardened"
    done = advtext("image", "harden", *common, "--method", "pgd", "--eps", "0.1", "--steps", "3", "--step-size",
                   "0.05", "--out", str(hardened))
    assert done.returncode == 0, done.stderr
    config = json.loads((hardened / "config.json").read_text())
    assert config["hardening"] == {"method": "pgd", "eps": 0.1, "alpha": 0.5, "steps": 3, "step_size": 0.05,
                                   "random_start": True}
    assert "adversarial_loss" in config["history"][0]

    out = tmp_path / "cw"
    done = advtext("image", "attack", str(distilled), "--method", "cw", "--n", "10", "--cw-steps", "200",
                   "--search-steps", "2", "--c-init", "0.1", "--device", "cpu", "--out", str(out))
    assert done.returncode == 0, done.stderr
    summary = json.loads((out / "summary.json").read_text())["results"][0]
    assert summary["method"] == "cw" and summary["success_rate"] >= 0.9
    done = advtext("image", "eval", str(hardened), "--metric", "cw", "--n", "5", "--device", "cpu", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["robustness"]["cw_l2"]["found"] >= 4


def test_fgsm_training_lowers_the_fgsm_error_on_a_small_real_run(tmp_path):
    common = ["--model", "mlp", "--hidden-size", "64", "--train-size", "3000", "--val-size", "500", "--epochs", "4",
              "--lr", "3e-3", "--device", "cpu"]
    plain, hardened = tmp_path / "plain", tmp_path / "hardened"
    for args, out in ((["train"], plain), (["harden", "--method", "fgsm", "--eps", "0.1"], hardened)):
        done = advtext("image", *args, *common, "--out", str(out))
        assert done.returncode == 0, done.stderr
    from advtext.image.mnist import load_mnist

    x, y = load_mnist("test")
    x, y = x[:1000], y[:1000]
    errors = {}
    for name, run in (("plain", plain), ("hardened", hardened)):
        clf = ImageClassifier.load(run, "cpu")
        with attack_mode(clf.model) as m:
            adv = fast_gradient_method(m, x, 0.1, y=y)
        errors[name] = (clf.logits(adv).argmax(1) != y).float().mean().item()
    assert errors["hardened"] < errors["plain"] - 0.1, errors
