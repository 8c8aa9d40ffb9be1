"""The one gradient engine behind every attack and defence in advtext.

An attack hands the engine a function of a batch (pixels, or word embeddings with their mask)
and gets back, for the whole batch in one backward pass per output, the input gradients or the
Jacobian rows it asked for. Rows of a batch never interact, so the gradient of the *sum* of the
per-row objectives is each row's own gradient. Large batches are cut into chunks to bound memory.
"""

from __future__ import annotations

import gc
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn

from advtext.distributed import join, world
from advtext.errors import AdvtextError

Objective = Callable[..., torch.Tensor]


def cpu_only_build() -> bool:
    """Whether this torch was built without CUDA (nor ROCm, which torch also drives as ``cuda``)."""
    return torch.version.cuda is None and getattr(torch.version, "hip", None) is None


def gpu_present() -> bool:
    """Whether this machine has an NVIDIA GPU, whatever the torch build can see."""
    return Path("/proc/driver/nvidia/version").exists() or shutil.which("nvidia-smi") is not None


CPU_BUILD = ("this torch ({version}) is a CPU-only build: install the CUDA build with `make setup GPU=1` in a fresh "
             "clone (or after `rm -rf .venv`)")


def select_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA when present, else CPU (saying so when a GPU sits unused behind a CPU-only torch);
    ``cpu``/``cuda``/``cuda:N`` are taken as given. Under torchrun, ``auto`` and ``cuda`` mean this rank's own
    GPU (``cuda:LOCAL_RANK``; another ``cuda:N`` is refused), and the process joins the ranks' group (gloo on the
    CPU, nccl on CUDA)."""
    device = _device_named(name)
    w = world()
    if w.distributed and device.type == "cuda":
        if device.index is None:
            device = _device_named(f"cuda:{w.local_rank}")
        elif device.index != w.local_rank:  # every rank would take the one GPU named, and nccl refuses that
            raise AdvtextError(f"--device {name} under torchrun: each rank takes its own GPU (this rank's is "
                               f"cuda:{w.local_rank}): use --device cuda or auto")
    join(device)
    return device


def _device_named(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if cpu_only_build() and gpu_present() and world().main:
            print("note: running on the CPU: this machine has a GPU but " + CPU_BUILD.format(version=torch.__version__),
                  file=sys.stderr)
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        device = None
    if device is None or device.type not in ("cpu", "cuda"):
        raise AdvtextError(f"unknown device {name!r}: use auto, cpu or cuda[:N]")
    if device.type == "cuda":
        if cpu_only_build():
            raise AdvtextError(f"device {name!r} asked for but " + CPU_BUILD.format(version=torch.__version__)
                               + ", or use --device cpu")
        count = torch.cuda.device_count()
        if count == 0:
            raise AdvtextError(f"device {name!r} asked for but no CUDA GPU is visible: use --device cpu or auto")
        if (device.index or 0) >= count:
            raise AdvtextError(f"device {name!r} does not exist: this machine has cuda:0..cuda:{count - 1}")
    return device


def set_numerics(deterministic: bool = False, tf32: bool = False) -> None:
    """How exactly the device computes: TF32 matrix products and convolutions only when asked (torch leaves
    them on for cuDNN, which runs the LSTM and the CNN), deterministic algorithms when asked (an operation
    without one is then an error rather than a silent variation)."""
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # what cuBLAS needs to repeat itself
        torch.backends.cudnn.benchmark = False
    if deterministic != torch.are_deterministic_algorithms_enabled():  # the call itself imports torch's compiler
        torch.use_deterministic_algorithms(deterministic)


def row_chunks(n: int, chunk_size: int | None) -> Iterator[slice]:
    """Slices of at most ``chunk_size`` rows; one empty slice for an empty batch, so that results keep their shape."""
    step = chunk_size or max(n, 1)
    for start in range(0, max(n, 1), step):
        yield slice(start, min(start + step, n))


def joined(chunks: list[torch.Tensor]) -> torch.Tensor:
    """The row chunks of a result as one tensor (the chunk itself when there is one: no copy)."""
    return chunks[0] if len(chunks) == 1 else torch.cat(chunks)


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """Python's cycle collector paused (then restored) around per-text bookkeeping: each of its runs walks every
    object of the heap (a loaded corpus is hundreds of thousands), and making a batch's records allocates enough
    to trigger many. Memory is still freed by reference counting; cycles wait for the collector's next run."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@contextmanager
def attack_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Evaluation mode with parameters frozen (no weight gradients are computed or kept).

    cuDNN runs an RNN's backward pass only in training mode, so RNN modules are switched to
    training mode with their dropout set to 0, which computes exactly the evaluation function.
    """
    was_training = model.training
    frozen = [p for p in model.parameters() if p.requires_grad]
    model.eval()
    rnns = [(m, m.dropout) for m in model.modules() if isinstance(m, nn.RNNBase)]
    for p in frozen:
        p.requires_grad_(False)
    for m, _ in rnns:
        m.dropout = 0.0
        m.train()
    try:
        yield model
    finally:
        for m, dropout in rnns:
            m.dropout = dropout
        for p in frozen:
            p.requires_grad_(True)
        model.train(was_training)


def gradient(objective: Objective, x: torch.Tensor, *extra: torch.Tensor,
             chunk_size: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row values and input gradients of ``objective(x, *extra) -> (B,)`` for the batch ``x``.

    Returns ``(values (B,), grad (same shape as x))``; one backward pass per chunk.
    """
    def every_row(*args: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        v = objective(*args)
        return v, torch.ones_like(v, dtype=torch.bool)

    values, grad, _ = gradient_where(every_row, x, *extra, chunk_size=chunk_size)
    return values, grad


def gradient_where(objective: Objective, x: torch.Tensor, *extra: torch.Tensor,
                   chunk_size: int | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Like ``gradient``, for ``objective(x, *extra) -> (values (B,), wanted (B,) bool)`` that decides on its
    own forward pass which rows need a gradient: the others get a zero gradient (unless their forward pass was not
    finite). Every chunk is backpropagated, with no host-side test of ``wanted`` (on a GPU such a test would wait
    for the forward pass).

    Returns ``(values, grad, wanted)``.
    """
    values, grads, wanted = [], [], []
    for sl in row_chunks(x.shape[0], chunk_size):
        xi = x[sl].detach().requires_grad_(True)
        with torch.enable_grad():
            v, w = objective(xi, *(e[sl] for e in extra))
            (g,) = torch.autograd.grad(torch.where(w, v, 0.0).sum(), xi)
        values.append(v.detach())
        grads.append(g)
        wanted.append(w)
    return joined(values), joined(grads), joined(wanted)


def jacobian(fn: Objective, x: torch.Tensor, *extra: torch.Tensor, chunk_size: int | None = None,
             outputs: list[int] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Outputs ``fn(x, *extra) -> (B, C)`` and their Jacobian ``(B, K, *x.shape[1:])``.

    ``outputs`` picks the K output columns to differentiate (default: all C); one backward pass
    per picked column and chunk, the forward pass shared.
    """
    values, jacs = [], []
    for sl in row_chunks(x.shape[0], chunk_size):
        xi = x[sl].detach().requires_grad_(True)
        with torch.enable_grad():
            out = fn(xi, *(e[sl] for e in extra))
            cols = outputs if outputs is not None else range(out.shape[1])
            rows = [torch.autograd.grad(out[:, c].sum(), xi, retain_graph=True)[0] for c in cols]
        values.append(out.detach())
        jacs.append(torch.stack(rows, dim=1))
    return joined(values), joined(jacs)


@torch.no_grad()
def evaluate(fn: Objective, x: torch.Tensor, *extra: torch.Tensor, chunk_size: int | None = None) -> torch.Tensor:
    """``fn`` over the batch without building a graph, chunked like the gradient calls."""
    return joined([fn(x[sl], *(e[sl] for e in extra)) for sl in row_chunks(x.shape[0], chunk_size)])
