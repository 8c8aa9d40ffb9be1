"""Papernot's substitute search: argmin_z || sign(e_z - e_x) - s ||_1 over a dictionary.

For every query (the current word x and the sign vector s of the goal's gradient at its position)
the whole dictionary is scanned. This is O(V * E) per query and cannot be a plain matrix product
(the sign is taken of a difference), so it runs as a fused kernel that keeps nothing but each query's
running minimum: numba on the CPU, Triton on a GPU (tiles of queries x words, one embedding dimension
at a time, like a matrix product's outer-product loop). Without Triton a GPU runs blocked tensor
operations on small integers whose intermediates fit a memory budget. All three compute exactly the
paper's L1 distance (sums of small integers); ties go to the lowest word id, as ``torch.argmin`` does.
"""

from __future__ import annotations

import importlib.util
import os

import numpy as np
import torch

from advtext.errors import AdvtextError

# numba's worker pool is as large as NUMBA_NUM_THREADS when it starts, and its idle workers spin: never more than
# torch's thread count (OMP_NUM_THREADS; one per rank under torchrun), or processes side by side slow each other
# tenfold (a value inherited from a parent process with more threads included)
os.environ["NUMBA_NUM_THREADS"] = str(min(int(os.environ.get("NUMBA_NUM_THREADS") or 10**6), torch.get_num_threads()))

try:
    import numba
    from numba import njit, prange
except ImportError:  # pragma: no cover - numba is declared; without it (e.g. on an odd platform) the tensor path runs
    numba = njit = prange = None

METHODS = ("numba", "triton", "blocked")


def _numba_kernel():
    # reassociation lets the distance sum vectorise (exact: sums of small integers); no other
    # fast-math assumption, since the running minimum starts at infinity
    @njit(parallel=True, fastmath={"reassoc", "contract"}, cache=True)
    def scan(table, x, s, current, allowed):  # pragma: no cover - compiled
        n, dim = x.shape
        best = np.full(n, -1, np.int64)
        best_dist = np.full(n, np.inf, np.float32)
        for j in prange(n):
            xj, sj, cur = x[j], s[j], current[j]
            bd, bz = np.float32(np.inf), -1
            for z in range(table.shape[0]):
                w = table[z]
                d = np.float32(0.0)
                for k in range(dim):
                    diff = np.float32(w[k] > xj[k]) - np.float32(w[k] < xj[k])
                    d += abs(diff - sj[k])
                # sums of small integers: exact in float32 whatever the summation order
                if d < bd and allowed[z] and z != cur:
                    bd, bz = d, z
            best[j], best_dist[j] = bz, bd
        return best, best_dist

    return scan


_KERNEL = None


def sign_distance(table: torch.Tensor, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """The paper's distances (n, V): || sign(table[z] - x_j) - s_j ||_1, computed directly."""
    return (torch.sign(table[None] - x[:, None]) - s[:, None]).abs().sum(-1)


def triton_available() -> bool:
    """Whether Triton is installed (it comes with torch's CUDA builds)."""
    return importlib.util.find_spec("triton") is not None


def default_method(device: torch.device) -> str:
    """The fastest exact search for ``device``: numba on the CPU, Triton on a GPU, else blocked tensors."""
    if device.type == "cpu":
        return "numba" if njit is not None else "blocked"
    return "triton" if device.type == "cuda" and triton_available() else "blocked"


def check_name(method: str) -> None:
    """Refuse, in one line, a search that does not exist."""
    if method not in METHODS:
        raise AdvtextError(f"unknown sign search {method!r}: use one of {', '.join(METHODS)}")


def check_method(method: str, device: torch.device) -> None:
    """Refuse, in one line, a search that cannot run on ``device``."""
    check_name(method)
    if method == "numba" and (njit is None or device.type != "cpu"):
        raise AdvtextError("the numba sign search runs on the CPU, with numba installed: use --sign-search "
                           f"{'triton or blocked' if device.type == 'cuda' else 'blocked'} here")
    if method == "triton":
        if not triton_available():
            raise AdvtextError("Triton is not installed (it comes with torch's CUDA builds: make setup GPU=1): use "
                               "--sign-search blocked")
        if device.type != "cuda" and os.environ.get("TRITON_INTERPRET") != "1":
            raise AdvtextError("the Triton sign search runs on a CUDA GPU: use --sign-search numba or blocked on the "
                               "CPU")


def sign_match(table: torch.Tensor, current: torch.Tensor, s: torch.Tensor, allowed: torch.Tensor,
               chunk: int = 64, method: str | None = None,
               memory: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Best substitute id per query (-1 when none is allowed) and its distance (inf when none).

    ``table`` (V, E) embeddings, ``current`` (n,) ids of the words being replaced (never chosen),
    ``s`` (n, E) gradient signs, ``allowed`` (V,) bool. Runs where ``table`` lives, by ``method``
    (``None``: ``default_method``): the fused numba kernel on the CPU, the fused Triton kernel on a
    GPU, or "blocked": ``chunk`` queries at a time against blocks of words sized to ``memory`` bytes of
    intermediates (default: a quarter of the GPU's free memory, at most 2 GB). All give the same result.
    """
    global _KERNEL
    method = method or default_method(table.device)
    check_method(method, table.device)
    if method == "triton":
        from advtext.text.triton_search import triton_sign_match  # imports Triton: only when asked

        return triton_sign_match(table.detach(), current, s.detach(), allowed)
    if method == "numba":
        if _KERNEL is None:
            _KERNEL = _numba_kernel()
        numba.set_num_threads(max(1, min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS)))
        t = table.detach().float().contiguous().numpy()
        best, dist = _KERNEL(t, t[current.numpy()], s.detach().float().contiguous().numpy(),
                             current.numpy().astype(np.int64), allowed.numpy())
        return torch.from_numpy(best), torch.from_numpy(dist)
    return _blocked_sign_match(table.detach(), current, s.detach(), allowed, chunk, memory)


def _memory_budget(device: torch.device) -> int:
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return min(free // 4, 2 << 30)
    return 256 << 20


def _blocked_sign_match(table: torch.Tensor, current: torch.Tensor, s: torch.Tensor, allowed: torch.Tensor,
                        chunk: int, memory: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """The tensor path of ``sign_match``: distances as small integers (int8 signs, int32 sums), a block of
    words at a time; a later block replaces the running best only when strictly closer, so ties keep the
    lowest id."""
    n, dim = s.shape
    vocab = table.shape[0]
    # bytes per (query, word, dimension) element: two comparisons (bool) and two int8 tensors
    words_per_block = max(1, (memory or _memory_budget(table.device)) // (4 * max(1, min(chunk, n)) * dim))
    signs = s.sign().to(torch.int8)
    best = torch.full((n,), -1, dtype=torch.long, device=table.device)
    best_dist = torch.full((n,), torch.iinfo(torch.int32).max, dtype=torch.int32, device=table.device)
    never = torch.iinfo(torch.int32).max
    for q in range(0, n, chunk):
        cur = current[q : q + chunk]
        x, sq = table[cur][:, None], signs[q : q + chunk, None]
        for w in range(0, vocab, words_per_block):
            block = table[w : w + words_per_block][None]
            diff = (block > x).to(torch.int8) - (block < x).to(torch.int8)
            d = (diff - sq).abs().sum(-1, dtype=torch.int32)  # (chunk, block)
            d.masked_fill_(~allowed[None, w : w + words_per_block], never)
            here = torch.arange(w, w + block.shape[1], device=table.device)
            d.masked_fill_(cur[:, None] == here[None], never)  # the word being replaced
            value, index = d.min(1)
            closer = value < best_dist[q : q + chunk]
            best[q : q + chunk] = torch.where(closer, index + w, best[q : q + chunk])
            best_dist[q : q + chunk] = torch.minimum(value, best_dist[q : q + chunk])
    found = best_dist < never
    dist = best_dist.float().masked_fill(~found, float("inf"))
    return torch.where(found, best, torch.full_like(best, -1)), dist


def sign_match_candidates(table: torch.Tensor, current: torch.Tensor, s: torch.Tensor,
                          candidates: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Like ``sign_match`` but each query may only pick from its own list ``candidates`` (n, K), -1 padded."""
    valid = candidates >= 0
    emb = table[candidates.clamp(min=0)]  # (n, K, E)
    d = (torch.sign(emb - table[current][:, None]) - s[:, None]).abs().sum(-1)
    d = d.masked_fill(~valid, float("inf"))
    value = d.min(1).values
    # ties go to the lowest word id, as in ``sign_match`` (a GloVe list is ordered by similarity, not id)
    tied = candidates.masked_fill(d != value[:, None], torch.iinfo(candidates.dtype).max)
    best = tied.min(1).values
    return torch.where(torch.isinf(value), torch.full_like(best, -1), best), value
