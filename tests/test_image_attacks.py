"""Properties of the image attacks: FGSM family, JSMA, the engine's Jacobian."""

import math

import pytest
import torch
from torch import nn

from advtext.engine import attack_mode, evaluate, jacobian
from advtext.errors import AdvtextError
from advtext.image.fgsm import (
    basic_iterative_method,
    fast_gradient_method,
    fgsm_epsilon_curve,
    projected_gradient_descent,
)
from advtext.image.jsma import _dense_pairs, all_other_targets, best_pairs, jsma
from advtext.image.mnist import load_mnist
from advtext.image.models import ImageModelConfig, build_image_model


@pytest.fixture(scope="module")
def trained_mlp():
    """A fully connected net trained for a second on 3,000 MNIST images (about 88% test accuracy)."""
    torch.manual_seed(0)
    x, y = load_mnist("train", limit=3000)
    model = build_image_model(ImageModelConfig(architecture="mlp", hidden_size=64))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(4):
        for i in range(0, len(y), 100):
            loss = nn.functional.cross_entropy(model(x[i : i + 100]), y[i : i + 100])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model.eval()


@pytest.fixture(scope="module")
def test_batch(trained_mlp):
    """Correctly classified test images."""
    x, y = load_mnist("test", limit=200)
    ok = evaluate(trained_mlp, x).argmax(1) == y
    assert ok.float().mean() > 0.8
    return x[ok][:60], y[ok][:60]


def tiny_model(dtype=torch.float32):
    torch.manual_seed(1)
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 12), nn.Tanh(), nn.Linear(12, 5)).to(dtype).eval()


def test_engine_jacobian_matches_autograd():
    model = tiny_model(torch.float64)
    x = torch.rand(3, 1, 4, 4, dtype=torch.float64)
    out, jac = jacobian(model, x)
    for i in range(3):
        ref = torch.autograd.functional.jacobian(model, x[i : i + 1])  # (1, 5, 1, 1, 4, 4)
        assert torch.allclose(jac[i], ref[0, :, 0])
    assert torch.allclose(out, model(x))
    _, picked = jacobian(model, x, outputs=[3, 1])
    assert torch.allclose(picked, jac[:, [3, 1]])


def test_fgsm_linf_norm_is_eps_before_clipping_and_in_box_after(trained_mlp, test_batch):
    x, y = test_batch
    with attack_mode(trained_mlp) as m:
        raw = fast_gradient_method(m, x, 0.2, y=y, clip_min=-math.inf, clip_max=math.inf)
        clipped = fast_gradient_method(m, x, 0.2, y=y)
    delta = (raw - x).flatten(1)
    assert torch.allclose(delta.abs().amax(1), torch.full((len(x),), 0.2))
    assert torch.allclose(delta.abs()[delta != 0], torch.tensor(0.2))
    assert clipped.min() >= 0 and clipped.max() <= 1
    assert torch.equal(clipped, raw.clamp(0, 1))


def test_fgm_l2_step_has_norm_eps(trained_mlp, test_batch):
    x, y = test_batch
    with attack_mode(trained_mlp) as m:
        raw = fast_gradient_method(m, x, 0.5, norm=2, y=y, clip_min=-math.inf, clip_max=math.inf)
    assert torch.allclose((raw - x).flatten(1).norm(dim=1), torch.full((len(x),), 0.5), atol=1e-5)


def test_fgsm_direction_raises_loss_and_targeted_lowers_it(trained_mlp, test_batch):
    x, y = test_batch
    target = (y + 1) % 10
    with attack_mode(trained_mlp) as m:
        away = fast_gradient_method(m, x, 0.1, y=y)
        toward = fast_gradient_method(m, x, 0.1, y=target, targeted=True)
        ce = nn.functional.cross_entropy
        assert ce(m(away), y) > ce(m(x), y)
        assert ce(m(toward), target) < ce(m(x), target)


def test_iterative_attacks_stay_in_ball_and_beat_fgsm(trained_mlp, test_batch):
    x, y = test_batch
    with attack_mode(trained_mlp) as m:
        fgsm = fast_gradient_method(m, x, 0.1, y=y)
        bim = basic_iterative_method(m, x, 0.1, 0.02, 10, y=y)
        pgd = projected_gradient_descent(m, x, 0.1, 0.02, 10, y=y, generator=torch.Generator().manual_seed(0))
        acc = {k: (evaluate(m, v).argmax(1) == y).float().mean() for k, v in
               {"fgsm": fgsm, "bim": bim, "pgd": pgd}.items()}
    for adv in (bim, pgd):
        assert (adv - x).abs().max() <= 0.1 + 1e-6 and adv.min() >= 0 and adv.max() <= 1
    assert acc["bim"] <= acc["fgsm"] and acc["pgd"] <= acc["fgsm"]


def test_epsilon_curve_matches_single_calls(trained_mlp, test_batch):
    x, y = test_batch
    with attack_mode(trained_mlp) as m:
        curve = fgsm_epsilon_curve(m, x, y, [0.0, 0.1, 0.3])
        single = fast_gradient_method(m, x, 0.1, y=y)
        acc = (evaluate(m, single).argmax(1) == y).float().mean().item()
    assert curve[0]["accuracy"] == 1.0
    assert curve[1]["accuracy"] == pytest.approx(acc)
    assert curve[2]["accuracy"] <= curve[1]["accuracy"]


@pytest.mark.parametrize("eps", [-0.1, 1.5])
def test_eps_outside_box_is_refused(trained_mlp, test_batch, eps):
    with pytest.raises(AdvtextError, match="outside"):
        fast_gradient_method(trained_mlp, test_batch[0], eps)


@pytest.mark.parametrize("increase", [True, False])
def test_pruned_pair_search_is_exact(increase):
    torch.manual_seed(3)
    a, b = torch.randn(40, 100) * torch.rand(40, 100) ** 3, torch.randn(40, 100) * torch.rand(40, 100) ** 3
    domain = torch.rand(40, 100) > 0.2
    p, q, valid = best_pairs(a, b, domain, increase, first_k=8)
    sign = 1.0 if increase else -1.0
    am, bm = (sign * a).masked_fill(~domain, -math.inf), (sign * b).masked_fill(~domain, math.inf)
    best, _ = _dense_pairs(am, bm)
    rows = torch.arange(40)
    found = (am[rows, p] + am[rows, q]).clamp(min=0) * (-(bm[rows, p] + bm[rows, q])).clamp(min=0)
    assert torch.allclose(found, best) and torch.equal(valid, best > 0)
    assert (p != q).all() and domain[rows[valid], p[valid]].all() and domain[rows[valid], q[valid]].all()


def test_jsma_respects_gamma_and_successes_are_the_target(trained_mlp, test_batch):
    x, y = test_batch[0][:20], test_batch[1][:20]
    rows, targets = all_other_targets(y, 10)
    assert len(rows) == 180 and not (targets == y[rows]).any()
    gamma = 0.1
    with attack_mode(trained_mlp) as m:
        adv = jsma(m, x[rows], targets, theta=1.0, gamma=gamma)
    changed = (adv != x[rows]).flatten(1).sum(1)
    assert changed.max() <= math.floor(gamma * 784)
    assert ((adv - x[rows]) >= 0).all() and adv.max() <= 1
    pred = evaluate(trained_mlp, adv).argmax(1)  # an independent evaluation, outside attack mode
    success = pred == targets
    assert success.float().mean() > 0.7
    stopped_early = changed + 2 <= math.floor(gamma * 784)
    assert success[stopped_early & (changed > 0)].float().mean() > 0.95  # rows stop early only on success


def test_jsma_decreasing_only_lowers_features(trained_mlp, test_batch):
    x, y = test_batch[0][:10], test_batch[1][:10]
    with attack_mode(trained_mlp) as m:
        adv = jsma(m, x, (y + 1) % 10, theta=-1.0, gamma=0.2)
    assert ((adv - x) <= 0).all() and adv.min() >= 0
    assert (adv != x).any()


def test_batched_jsma_equals_one_at_a_time():
    model = nn.Sequential(nn.Flatten(), nn.Linear(36, 20), nn.ReLU(), nn.Linear(20, 4)).double().eval()
    torch.manual_seed(5)
    x = torch.rand(8, 1, 6, 6, dtype=torch.float64) * (torch.rand(8, 1, 6, 6) > 0.5)
    target = torch.randint(0, 4, (8,))
    with attack_mode(model) as m:
        batched = jsma(m, x, target, theta=1.0, gamma=0.5)
        single = torch.cat([jsma(m, x[i : i + 1], target[i : i + 1], theta=1.0, gamma=0.5) for i in range(8)])
    assert torch.equal(batched, single)
    assert (batched != x).any()


@pytest.mark.parametrize("gamma,theta", [(0.0, 1.0), (1.5, 1.0), (0.1, 0.0), (0.1, 2.0)])
def test_jsma_bad_arguments_are_refused(gamma, theta):
    with pytest.raises(AdvtextError):
        jsma(tiny_model(), torch.rand(1, 1, 4, 4), torch.tensor([0]), theta=theta, gamma=gamma)


def test_pgd_random_start_is_uniform_in_the_ball():
    import math

    from advtext.image.fgsm import random_start

    g = torch.Generator().manual_seed(0)
    flat = random_start(torch.zeros(20000, 2), 0.3, 2.0, g)
    norms = flat.norm(dim=1)
    assert norms.max() <= 0.3 + 1e-6
    # uniform in a disc: a quarter of the points within half the radius (a cube projected onto the ball: pi/16)
    assert abs(float((norms < 0.15).float().mean()) - 0.25) < 0.015
    images = random_start(torch.zeros(500, 1, 28, 28), 0.5, 2.0, g)
    radii = images.flatten(1).norm(dim=1)
    assert radii.max() <= 0.5 + 1e-6 and abs(float(radii.mean()) - 0.5 * 784 / 785) < 1e-3
    cube = random_start(torch.zeros(1000, 3), 0.1, math.inf, g)
    assert cube.abs().max() <= 0.1 and cube.abs().max() > 0.099
