"""Papernot's sign search as one fused Triton kernel, for GPUs (``sign_search.sign_match(method="triton")``).

Each program holds a tile of queries x words and adds up the paper's distance one embedding dimension at a
time, the outer-product loop of a matrix product with ``|sign(e_z - x) - s|`` in place of the product, so
nothing of size queries x words x dimensions is ever stored; it keeps each query's running best over its
split of the vocabulary. Distances are sums of small integers in float32: exact, whatever the order.
Importing this module imports Triton; with ``TRITON_INTERPRET=1`` set first, the kernel runs on the CPU
in Triton's interpreter (how the tests check it).
"""

from __future__ import annotations

import subprocess
from contextlib import nullcontext

import torch
import triton
import triton.language as tl
from triton.errors import TritonError  # compiling, ptxas, a GPU's resources

from advtext.errors import AdvtextError

# a tile of 32 queries x 64 words over 8 warps: 8 distances per thread, 112 registers and no spills on sm_90
# (ptxas); over 4 warps it needs 239 registers per thread, and half as many warps stay resident
TILE_QUERIES, TILE_WORDS, TILE_WARPS = 32, 64, 8


# the sizes that change from call to call are not specialised on (Triton compiles a variant for 1, multiples of 16
# and the rest): one compilation, at the attack's warm-up, serves every batch
@triton.jit(do_not_specialize=["n", "words_per_split", "splits"])
def _scan(table_t, x_t, s_t, current, allowed, out_dist, out_id, n, vocab, dim, words_per_split, splits,
          QUERIES: tl.constexpr, WORDS: tl.constexpr):  # pragma: no cover - compiled
    # table_t (dim, vocab), x_t and s_t (dim, n): one dimension of every word (query) lies contiguous
    q = tl.program_id(0) * QUERIES + tl.arange(0, QUERIES)
    q_ok = q < n
    cur = tl.load(current + q, mask=q_ok, other=-1)
    best = tl.full((QUERIES,), float("inf"), tl.float32)
    best_id = tl.full((QUERIES,), -1, tl.int32)
    lo = tl.program_id(1) * words_per_split
    hi = tl.minimum(lo + words_per_split, vocab)
    for start in range(lo, hi, WORDS):
        w = start + tl.arange(0, WORDS)
        w_ok = w < hi
        d = tl.full((QUERIES, WORDS), 0.0, tl.float32)
        # pointers step one dimension (row) at a time: 64-bit arithmetic, no offset k * vocab to overflow
        x_row, s_row, e_row = x_t + q, s_t + q, table_t + w
        for _ in range(dim):
            x = tl.load(x_row, mask=q_ok, other=0.0)
            s = tl.load(s_row, mask=q_ok, other=0.0)
            e = tl.load(e_row, mask=w_ok, other=0.0)
            # |sign(e - x) - s| with s in {-1, 0, 1}: 1 - s above x, 1 + s below, |s| level (two compares, two selects)
            above, below, level = 1.0 - s, 1.0 + s, tl.abs(s)
            d += tl.where(e[None, :] > x[:, None], above[:, None],
                          tl.where(e[None, :] < x[:, None], below[:, None], level[:, None]))
            x_row, s_row, e_row = x_row + n, s_row + n, e_row + vocab
        ok = w_ok & (tl.load(allowed + w, mask=w_ok, other=0) != 0)
        d = tl.where(ok[None, :] & (w[None, :] != cur[:, None]), d, float("inf"))
        value, index = tl.min(d, axis=1, return_indices=True, return_indices_tie_break_left=True)
        best_id = tl.where(value < best, start + index, best_id)
        best = tl.minimum(value, best)
    tl.store(out_dist + q * splits + tl.program_id(1), best, mask=q_ok)
    tl.store(out_id + q * splits + tl.program_id(1), best_id, mask=q_ok)


def _splits(n_query_blocks: int, word_blocks: int, device: torch.device) -> int:
    """How many parts the vocabulary is cut into: enough for about 8 programs per multiprocessor."""
    processors = torch.cuda.get_device_properties(device).multi_processor_count if device.type == "cuda" else 1
    return max(1, min(word_blocks, -(-8 * processors // n_query_blocks)))


def triton_sign_match(table: torch.Tensor, current: torch.Tensor, s: torch.Tensor, allowed: torch.Tensor,
                      queries: int = TILE_QUERIES, words: int = TILE_WORDS,
                      warps: int = TILE_WARPS) -> tuple[torch.Tensor, torch.Tensor]:
    """``sign_match`` on the GPU: each program (``warps`` warps) scans one split of the vocabulary for ``queries``
    queries, ``words`` words at a time; the splits' bests are then reduced, the first split (lower ids) winning
    ties."""
    n, dim = s.shape
    vocab = table.shape[0]
    if n == 0:
        return torch.full((0,), -1, dtype=torch.long, device=table.device), torch.zeros(0, device=table.device)
    table_t = table.float().t().contiguous()
    x_t = table_t[:, current].contiguous()
    s_t = s.float().sign().t().contiguous()
    query_blocks, word_blocks = -(-n // queries), -(-vocab // words)
    words_per_split = -(-word_blocks // _splits(query_blocks, word_blocks, table.device)) * words
    splits = -(-vocab // words_per_split)
    dist = torch.empty((n, splits), dtype=torch.float32, device=table.device)
    best = torch.empty((n, splits), dtype=torch.int32, device=table.device)
    # Triton launches on the current device: a table on another GPU (cuda:1, a torchrun rank) needs its context.
    # Compiling needs a C compiler and a GPU that Triton supports (and enough registers and shared memory on it):
    # a failure is one line, not a traceback.
    try:
        with torch.cuda.device(table.device) if table.device.type == "cuda" else nullcontext():
            _scan[(query_blocks, splits)](table_t, x_t, s_t, current.contiguous(), allowed.to(torch.int8), dist,
                                          best, n, vocab, dim, words_per_split, splits, QUERIES=queries, WORDS=words,
                                          num_warps=warps)
    except (RuntimeError, OSError, subprocess.CalledProcessError, TritonError) as failed:
        reason = str(failed).strip().splitlines()[0] if str(failed).strip() else type(failed).__name__
        raise AdvtextError(f"the Triton sign search failed on {table.device} ({reason}): use --sign-search "
                           "blocked") from None
    split = dist.argmin(1, keepdim=True)  # the first of equal minima: the lower ids
    value = dist.gather(1, split).squeeze(1)
    chosen = best.gather(1, split).squeeze(1).long()
    return torch.where(torch.isinf(value), torch.full_like(chosen, -1), chosen), value
