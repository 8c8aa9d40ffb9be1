"""Counting, on the CPU, what would make the host wait for a GPU: the same code runs on both, and on the CPU
nothing waits, so the operations themselves are counted."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch
from torch.utils._python_dispatch import TorchDispatchMode

_TORCH = str(Path(torch.__file__).parent) + os.sep

# operations whose output size or value the host must know: on a GPU each waits for the work queued before it
WAITING = {"aten.nonzero", "aten._local_scalar_dense", "aten.masked_select", "aten.is_nonzero", "aten._unique2",
           "aten.unique_dim", "aten.unique_consecutive", "aten.repeat_interleave", "aten.bincount"}
MASKED = {"aten.index", "aten.index_put_", "aten.index_put"}  # boolean-mask indexing calls nonzero within


class DeviceReads(TorchDispatchMode):
    """While active: ``ops``, the waiting operations dispatched (``WAITING``, boolean-mask indexing), and ``reads``,
    the shapes of tensors copied to the host by ``Tensor.cpu`` or ``Tensor.tolist`` (no operation on the CPU);
    ``sites``, where each came from (file:line of the innermost caller outside torch), for a failing test to show."""

    def __init__(self):
        super().__init__()
        self.ops = 0
        self.reads: list[torch.Size] = []
        self.sites: list[str] = []
        self._saved = {}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = str(func.overloadpacket)
        if name in WAITING or (name in MASKED and any(i is not None and i.dtype == torch.bool for i in args[1])):
            self.ops += 1
            self.sites.append(f"{name} at {_site()}")
        return func(*args, **(kwargs or {}))

    def __enter__(self):
        for method in ("cpu", "tolist"):
            real = self._saved[method] = getattr(torch.Tensor, method)
            setattr(torch.Tensor, method, self._counted(real))
        return super().__enter__()

    def __exit__(self, *exc):
        for method, real in self._saved.items():
            setattr(torch.Tensor, method, real)
        return super().__exit__(*exc)

    def _counted(self, real):
        def read(tensor, *args, **kwargs):
            self.reads.append(tensor.shape)
            self.sites.append(f"{real.__name__} {tuple(tensor.shape)} at {_site()}")
            return real(tensor, *args, **kwargs)
        return read


def _site() -> str:
    """file:line of the innermost caller outside torch and this module."""
    frame = sys._getframe(1)
    while frame is not None and (frame.f_code.co_filename.startswith(_TORCH) or frame.f_code.co_filename == __file__):
        frame = frame.f_back
    return "?" if frame is None else f"{Path(frame.f_code.co_filename).name}:{frame.f_lineno}"
