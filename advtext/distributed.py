"""Past one process: torch.distributed under torchrun, one node or many.

``torchrun --nproc-per-node N -m advtext attack ...`` starts N copies of the command; each reads its rank
and the world size from the environment that torchrun sets and joins one process group (gloo on the CPU,
nccl on CUDA). An attack gives rank r the batches r, r + N, r + 2N, ... of its plan and each rank writes
its own part file, which rank 0 merges (``advtext.text.run_attack``; images: ``advtext.image.attack``).
Training averages the gradients of the ranks' shares of every batch (``advtext.training``). Without
torchrun the world is one process and nothing here does anything.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

from advtext.errors import AdvtextError

_device = torch.device("cpu")  # where the collectives' tensors live (nccl reduces only CUDA tensors)
TIMEOUT = timedelta(minutes=int(os.environ.get("ADVTEXT_DIST_TIMEOUT_MIN", "60")))


@dataclass(frozen=True)
class World:
    """This process's place among the processes torchrun started."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    def shard(self, n: int) -> range:
        """The indices of ``n`` units of work (an attack's batches) this rank takes: interleaved, so that long
        and short ones spread evenly and every one falls to exactly one rank."""
        return range(self.rank, n, self.size)


_alone = False  # inside ``alone()``: this rank works as one process


def world() -> World:
    """The world as torchrun's environment describes it (one process without torchrun, or inside ``alone()``)."""
    env = os.environ
    if _alone:
        return World()
    try:
        return World(int(env.get("RANK", 0)), int(env.get("WORLD_SIZE", 1)), int(env.get("LOCAL_RANK", 0)))
    except ValueError:
        raise AdvtextError("RANK, WORLD_SIZE or LOCAL_RANK is not a number: start advtext with torchrun, or unset "
                           "them") from None


def note(message: str) -> None:
    """An informational line on stderr, from rank 0 alone under torchrun (every rank would say the same)."""
    if world().main:
        print(message, file=sys.stderr, flush=True)


def join(device: torch.device) -> World:
    """Join the process group of this world once (gloo on the CPU, nccl on CUDA); the world."""
    global _device
    w = world()
    if w.distributed and not dist.is_initialized():
        _device = device
        if device.type == "cuda":  # object collectives stage on the current device, which must be this rank's GPU
            torch.cuda.set_device(device)
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend, timeout=TIMEOUT,
                                **({"device_id": device} if device.type == "cuda" else {}))
        signal.signal(signal.SIGTERM, _stopped_by_peer)
    return w


def _stopped_by_peer(signum, frame) -> None:
    """torchrun stops every rank when one fails (or when it is interrupted): say so in one line, instead of
    dying silently."""
    print(f"error: rank {world().rank} stopped by torchrun (another rank failed, its message is above, or the run "
          "was interrupted); the records written so far are kept: rerun the same command to resume",
          file=sys.stderr, flush=True)
    os._exit(143)


def saying_why_it_stops() -> None:
    """This rank is about to print its own error and exit: torchrun's stop, which the first rank to fail sends the
    others, must not cut into that line (its message would land in the middle of this one)."""
    if signal.getsignal(signal.SIGTERM) is _stopped_by_peer:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)


def barrier(what: str) -> None:
    """Wait for every rank (nothing to wait for in one process); a rank that died makes it one line of error."""
    if not _grouped():
        return
    try:
        dist.barrier()
    except (RuntimeError, dist.DistBackendError) as e:
        raise AdvtextError(f"rank {world().rank}: another rank stopped before {what} ({str(e).splitlines()[0]}): "
                           "the records written so far are kept: rerun the same command to resume") from None


def all_sum(values: list[float]) -> list[float]:
    """The element-wise sum of ``values`` over every rank (``values`` itself in one process)."""
    if not _grouped():
        return values
    t = torch.tensor(values, dtype=torch.float64, device=_device)
    dist.all_reduce(t)
    return t.tolist()


def broadcast_object(value):
    """Rank 0's ``value`` on every rank (as is in one process)."""
    if not _grouped():
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather_objects(value) -> list:
    """Every rank's ``value``, in rank order (``[value]`` in one process)."""
    if not _grouped():
        return [value]
    out = [None] * dist.get_world_size()
    dist.all_gather_object(out, value)
    return out


@contextmanager
def alone() -> Iterator[None]:
    """Work done by one rank while the others wait (rank 0 training an attack's substitute): no collectives."""
    global _alone
    _alone, before = True, _alone
    try:
        yield
    finally:
        _alone = before


def _grouped() -> bool:
    return world().distributed and dist.is_initialized()


def finish(code: int) -> None:
    """End the command with exit status ``code``. Under torchrun the process leaves at once, its output
    flushed: torch's teardown at interpreter exit can abort a rank ("terminate called without an active
    exception") after its work is done and written."""
    if world().distributed:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    if code:
        sys.exit(code)


def leave() -> None:
    """Leave the process group once every rank has finished (no-op in one process): a rank that tore its group
    down while another still talked to it could abort. Only after success: a rank that failed alone would wait
    here for the others forever, so it exits and torchrun stops them."""
    if dist.is_initialized():
        barrier("every rank finished")
        dist.destroy_process_group()
