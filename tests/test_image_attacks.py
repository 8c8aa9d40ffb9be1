"""Properties of the image attacks: FGSM family, JSMA, L-BFGS, the robustness metric, the engine's Jacobian."""

import itertools
import math

import pytest
import torch
from torch import nn

from advtext.engine import attack_mode, evaluate, jacobian
from advtext.errors import AdvtextError
from advtext.image.attack import AttackSettings, craft
from advtext.image.fgsm import (
    basic_iterative_method,
    fast_gradient_method,
    fgsm_epsilon_curve,
    projected_gradient_descent,
)
from advtext.image.jsma import _dense_pairs, all_other_targets, best_pairs, forward_derivative, jsma
from advtext.image.lbfgs import lbfgs_attack, minimize_rows
from advtext.image.mnist import load_mnist
from advtext.image.models import ImageModelConfig, build_image_model
from advtext.image.robustness import fgsm_minimal_eps, jsma_minimal_l0


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


def test_an_l2_epsilon_above_one_is_a_normal_distance(trained_mlp, test_batch):
    x = test_batch[0]
    adv = fast_gradient_method(trained_mlp, x, 3.0, norm=2)
    assert (adv - x).flatten(1).norm(dim=1).max() <= 3.0 + 1e-4 and (adv != x).any()
    with pytest.raises(AdvtextError, match="at least 0"):
        fast_gradient_method(trained_mlp, x, -1.0, norm=2)


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


def three_feature_model() -> nn.Module:
    """Logits ``W x + b`` over three features; class 2 is unlikely but weighs heavily on feature 2, so that
    the logit and the probability saliency maps pick different pairs for target 0.
    """
    model = nn.Linear(3, 3).double()
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0, 0.8, 0.5], [-1.0, -0.5, 0.0], [0.0, 0.0, -5.0]]))
        model.bias.copy_(torch.tensor([-1.0, 0.0, -5.0]))
    return model.eval()


def paper_pair(alpha: torch.Tensor, beta: torch.Tensor) -> tuple[int, int]:
    """Papernot 2016, Algorithm 3 (increasing): the pair with alpha > 0, beta < 0 and the largest -alpha * beta."""
    scores = {(p, q): -(alpha[p] + alpha[q]) * (beta[p] + beta[q]) for p, q in itertools.combinations(range(3), 2)
              if alpha[p] + alpha[q] > 0 and beta[p] + beta[q] < 0}
    return max(scores, key=scores.get)


@pytest.mark.parametrize("saliency,pair", [("logits", (0, 2)), ("probs", (0, 1))])
def test_jsma_saliency_matches_the_hand_computed_jacobian(saliency, pair):
    model, x, target = three_feature_model(), torch.tensor([[0.1, 0.2, 0.0]], dtype=torch.float64), torch.tensor([0])
    w = model.weight.detach()
    p = model(x).softmax(1)[0].detach()
    if saliency == "logits":  # d z_j / dx = W_j
        alpha, beta = w[0], w[1] + w[2]
    else:  # d p_j / dx = p_j (W_j - sum_k p_k W_k)
        dp = p[:, None] * (w - p @ w)
        alpha, beta = dp[0], dp[1] + dp[2]
    logits, a, b = forward_derivative(model, x, target, saliency)
    assert torch.allclose(logits, model(x)) and logits.argmax(1) != target
    assert torch.allclose(a[0], alpha) and torch.allclose(b[0], beta)
    assert paper_pair(alpha, beta) == pair
    found = best_pairs(a, b, torch.ones(1, 3, dtype=torch.bool), increase=True)
    assert sorted((int(found[0]), int(found[1]))) == list(pair) and bool(found[2])
    adv = jsma(model, x, target, theta=1.0, gamma=0.7, saliency=saliency)  # a budget of one pair
    assert (adv != x)[0].nonzero().squeeze(1).tolist() == list(pair) and (adv[0, list(pair)] == 1).all()


@pytest.mark.parametrize("saturation,changed", [(0.0, [0, 1]), (0.01, [1, 2])])
def test_jsma_saturation_zero_lets_a_nearly_saturated_pixel_be_chosen(saturation, changed):
    model = nn.Linear(3, 2).double()
    with torch.no_grad():  # alpha = (2, 1, 0.5), beta = (-1, -1, -1): the best pair is (0, 1), then (1, 2)
        model.weight.copy_(torch.tensor([[2.0, 1.0, 0.5], [-1.0, -1.0, -1.0]]))
        model.bias.copy_(torch.tensor([-10.0, 0.0]))
    x = torch.tensor([[0.995, 0.2, 0.0]], dtype=torch.float64)
    adv = jsma(model, x, torch.tensor([0]), theta=1.0, gamma=0.7, saturation=saturation)
    assert (adv != x)[0].nonzero().squeeze(1).tolist() == changed and (adv[0, changed] == 1).all()


@pytest.mark.parametrize("saturation,saliency", [(-0.1, "logits"), (1.0, "logits"), (0.0, "softmax")])
def test_jsma_bad_saturation_or_saliency_is_refused(saturation, saliency):
    with pytest.raises(AdvtextError, match="saturation" if saliency == "logits" else "saliency"):
        jsma(tiny_model(), torch.rand(1, 1, 4, 4), torch.tensor([0]), saturation=saturation, saliency=saliency)


def test_attack_settings_carry_the_jsma_options_to_the_attack(trained_mlp, test_batch):
    x, y = test_batch[0][:4], test_batch[1][:4]
    target = (y + 1) % 10
    settings = AttackSettings(method="jsma", gamma=0.05, saturation=0.01, saliency="logits")
    crafted = craft(trained_mlp, x, y, target, math.nan, settings, list(range(4)))
    with attack_mode(trained_mlp) as m:
        direct = jsma(m, x, target, gamma=0.05, saturation=0.01, saliency="logits")
        default = jsma(m, x, target, gamma=0.05)
    assert torch.equal(crafted, direct) and not torch.equal(crafted, default)


def random_model(kind: str) -> nn.Module:
    torch.manual_seed(0)
    layers = [nn.Linear(36, 4)] if kind == "linear" else [nn.Linear(36, 16), nn.Tanh(), nn.Linear(16, 4)]
    return nn.Sequential(nn.Flatten(), *layers).double().eval()


@pytest.mark.parametrize("kind", ["linear", "mlp"])
def test_batched_lbfgs_equals_one_at_a_time(kind):
    model = random_model(kind)
    g = torch.Generator().manual_seed(1)
    x = torch.rand(6, 1, 6, 6, generator=g, dtype=torch.float64)
    x[::2] = (x[::2] > 0.5).double()  # half the rows with pixels on the box's edges
    with attack_mode(model) as m:
        ranks = evaluate(m, x).argsort(1)  # targets from least likely to third likely: rows of unlike difficulty
        target = ranks[torch.arange(6), torch.tensor([0, 1, 2, 0, 1, 2])]
        batched = lbfgs_attack(m, x, target, search_steps=3, max_iter=5)
        single = torch.cat([lbfgs_attack(m, x[i : i + 1], target[i : i + 1], search_steps=3, max_iter=5)
                            for i in range(6)])
    assert (batched - single).abs().max() < 1e-5
    success = evaluate(model, batched).argmax(1) == target
    assert success.sum() >= 5
    assert torch.equal(batched[~success], x[~success])  # rows never brought to the target come back unchanged
    assert batched.min() >= 0 and batched.max() <= 1


def test_minimize_rows_solves_each_row_of_unlike_conditioning():
    g = torch.Generator().manual_seed(0)
    scale = torch.logspace(0, 2, 20, dtype=torch.float64)[None, :] * torch.tensor([[1.0], [10.0], [0.01], [1.0]])
    centre = torch.randn(4, 20, generator=g, dtype=torch.float64)

    def objective(r: torch.Tensor, a: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return 0.5 * (a * (r - c) ** 2).sum(1) + 0.1 * ((r - c) ** 4).sum(1)

    def solve(rows: slice) -> torch.Tensor:
        start = torch.zeros(4, 20, dtype=torch.float64)[rows]
        return minimize_rows(objective, start, scale[rows], centre[rows], max_iter=100, tolerance_grad=1e-10,
                            tolerance_change=0.0)

    r = solve(slice(None))
    assert (r - centre).abs().max() < 1e-6
    assert torch.equal(solve(slice(2, 3))[0], r[2])


def test_fgsm_minimal_eps_is_minimal_to_one_search_step(trained_mlp, test_batch):
    x, y = test_batch
    with attack_mode(trained_mlp) as m:
        eps = fgsm_minimal_eps(m, x, y, steps=10)
        found = ~eps.isnan()
        at = fast_gradient_method(m, x, eps.nan_to_num(1.0), y=y)
        below = fast_gradient_method(m, x[found], eps[found] - 2**-10, y=y[found])
    assert found.float().mean() > 0.5
    assert (evaluate(trained_mlp, at[found]).argmax(1) != y[found]).all()
    assert (evaluate(trained_mlp, at[~found]).argmax(1) == y[~found]).all()  # not even eps = 1 fools these
    assert (evaluate(trained_mlp, below).argmax(1) == y[found]).all()


def test_jsma_minimal_l0_is_the_best_target_and_one_pair_less_misses_it(trained_mlp, test_batch):
    x, y = test_batch[0][:6], test_batch[1][:6]
    gamma, n = 0.1, x[0].numel()
    with attack_mode(trained_mlp) as m:
        l0 = jsma_minimal_l0(m, x, y, 10, gamma=gamma)
        fractions = torch.full((6, 10), math.inf)
        for t in range(10):
            adv = jsma(m, x, torch.full((6,), t), gamma=gamma)
            hit = (evaluate(m, adv).argmax(1) == t) & (y != t)
            fractions[hit, t] = (adv != x).flatten(1).float().mean(1)[hit]
        best, best_target = fractions.min(1)
        assert torch.equal(l0.isnan(), best.isinf()) and (~l0.isnan()).sum() >= 4
        found = ~l0.isnan()
        assert torch.allclose(l0[found], best[found])
        for i in found.nonzero().squeeze(1).tolist():
            pairs_less = round(float(l0[i]) * n) - 2
            short = jsma(m, x[i : i + 1], best_target[i : i + 1], gamma=(pairs_less + 0.5) / n)
            assert (short != x[i : i + 1]).sum() == pairs_less
            assert evaluate(m, short).argmax(1) != best_target[i]
