"""The shared gradient engine: chunking, empty batches, and the attack mode's restoring of the model."""

import gc
from contextlib import nullcontext

import pytest
import torch
from torch import nn

from advtext.engine import attack_mode, cyclic_gc_paused, evaluate, gradient, jacobian


def small_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(6, 5), nn.Tanh(), nn.Linear(5, 3)).double()


def picked_log_prob(model: nn.Module):
    """A per-row objective that reads a per-row extra tensor (the class whose log-probability it is)."""
    return lambda x, y: model(x).log_softmax(1).gather(1, y[:, None]).squeeze(1)


@pytest.mark.parametrize("chunk_size", [1, 3, 4])
def test_chunks_give_the_same_values_gradients_and_jacobians(chunk_size):
    model = small_net()
    x = torch.rand(7, 2, 3, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 0, 1, 2, 1])
    objective = picked_log_prob(model)
    values, grad = gradient(objective, x, y)
    chunked_values, chunked_grad = gradient(objective, x, y, chunk_size=chunk_size)
    assert torch.allclose(chunked_values, values) and torch.allclose(chunked_grad, grad)
    out, jac = jacobian(model, x, outputs=[2, 0])
    chunked_out, chunked_jac = jacobian(model, x, chunk_size=chunk_size, outputs=[2, 0])
    assert torch.allclose(chunked_out, out) and torch.allclose(chunked_jac, jac)
    assert torch.allclose(evaluate(objective, x, y, chunk_size=chunk_size), values)
    row = x[5:6].clone().requires_grad_(True)  # each row's gradient is its own objective's
    (alone,) = torch.autograd.grad(objective(row, y[5:6]).sum(), row)
    assert torch.allclose(chunked_grad[5], alone[0])


@pytest.mark.parametrize("chunk_size", [None, 4])
def test_empty_batch_gives_empty_results_of_the_right_shape(chunk_size):
    model = small_net()
    x = torch.rand(0, 2, 3, dtype=torch.float64)
    y = torch.zeros(0, dtype=torch.long)
    assert evaluate(model, x, chunk_size=chunk_size).shape == (0, 3)
    values, grad = gradient(picked_log_prob(model), x, y, chunk_size=chunk_size)
    assert values.shape == (0,) and grad.shape == (0, 2, 3)
    out, jac = jacobian(model, x, chunk_size=chunk_size, outputs=[1, 2])
    assert out.shape == (0, 3) and jac.shape == (0, 2, 2, 3)


class Recurrent(nn.Module):
    """A two-layer LSTM with dropout between layers and a linear head."""

    def __init__(self):
        super().__init__()
        self.rnn = nn.LSTM(4, 6, num_layers=2, dropout=0.3, batch_first=True)
        self.head = nn.Linear(6, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.rnn(x)[0][:, -1])


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("raises", [False, True])
def test_attack_mode_freezes_inside_and_restores_after(training, raises):
    model = Recurrent().train(training)
    model.head.bias.requires_grad_(False)  # frozen by the user: must stay frozen
    inside = {}

    class Stop(Exception):
        pass

    with pytest.raises(Stop) if raises else nullcontext():
        with attack_mode(model) as m:
            inside = {"training": m.training, "head": m.head.training, "rnn": m.rnn.training,
                      "dropout": m.rnn.dropout, "grad": [p.requires_grad for p in m.parameters()]}
            m(torch.rand(2, 3, 4)).sum()  # the RNN runs (in train mode, without dropout)
            if raises:
                raise Stop
    assert inside == {"training": False, "head": False, "rnn": True, "dropout": 0.0,
                      "grad": [False] * len(list(model.parameters()))}
    assert model.training == training and model.head.training == training and model.rnn.training == training
    assert model.rnn.dropout == 0.3
    assert [p.requires_grad for p in model.parameters()] == [True] * 8 + [True, False]


@pytest.mark.parametrize("enabled", [True, False])
@pytest.mark.parametrize("raises", [False, True])
def test_the_cycle_collector_is_paused_inside_and_left_as_it_was_after(enabled, raises):
    (gc.enable if enabled else gc.disable)()
    inside = None

    class Stop(Exception):
        pass

    try:
        with pytest.raises(Stop) if raises else nullcontext():
            with cyclic_gc_paused():
                inside = gc.isenabled()
                if raises:
                    raise Stop
        assert inside is False and gc.isenabled() == enabled
    finally:
        gc.enable()


def test_attack_mode_computes_the_evaluation_function_of_an_rnn():
    model = Recurrent().train()
    x = torch.rand(3, 5, 4)
    expected = model.eval()(x)
    model.train()
    with attack_mode(model) as m:
        assert torch.allclose(m(x), expected) and torch.allclose(m(x), expected)  # no dropout: twice the same


def test_device_errors_tell_a_cpu_only_torch_from_a_machine_without_gpu(monkeypatch, capsys):
    from advtext import engine
    from advtext.errors import AdvtextError

    monkeypatch.setattr(torch.version, "cuda", None)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(AdvtextError, match="CPU-only build.*make setup GPU=1"):
        engine.select_device("cuda")
    monkeypatch.setattr(engine, "gpu_present", lambda: True)
    assert engine.select_device("auto") == torch.device("cpu")
    assert "has a GPU but this torch" in capsys.readouterr().err
    monkeypatch.setattr(torch.version, "cuda", "12.8")
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    with pytest.raises(AdvtextError, match="no CUDA GPU is visible"):
        engine.select_device("cuda:0")


def test_numerics_are_what_the_options_ask():
    from advtext.engine import set_numerics

    try:
        set_numerics(deterministic=True)
        assert torch.are_deterministic_algorithms_enabled()
        assert not torch.backends.cudnn.allow_tf32 and not torch.backends.cuda.matmul.allow_tf32
        set_numerics(tf32=True)
        assert not torch.are_deterministic_algorithms_enabled() and torch.backends.cudnn.allow_tf32
    finally:
        set_numerics()
