"""Counting, on the CPU, what would make the host wait for a GPU: the same code runs on both, and on the CPU
nothing waits, so the operations themselves are counted."""

from __future__ import annotations

import torch
from torch.utils._python_dispatch import TorchDispatchMode

# operations whose output size or value the host must know: on a GPU each waits for the work queued before it
WAITING = {"aten.nonzero", "aten._local_scalar_dense", "aten.masked_select", "aten.is_nonzero", "aten._unique2",
           "aten.unique_dim", "aten.unique_consecutive", "aten.repeat_interleave", "aten.bincount"}
MASKED = {"aten.index", "aten.index_put_", "aten.index_put"}  # boolean-mask indexing calls nonzero within


class DeviceReads(TorchDispatchMode):
    """While active: ``ops``, the waiting operations dispatched (``WAITING``, boolean-mask indexing), and ``reads``,
    the shapes of tensors copied to the host by ``Tensor.cpu`` or ``Tensor.tolist`` (no operation on the CPU)."""

    def __init__(self):
        super().__init__()
        self.ops = 0
        self.reads: list[torch.Size] = []
        self._saved = {}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = str(func.overloadpacket)
        self.ops += name in WAITING or (name in MASKED and any(i is not None and i.dtype == torch.bool
                                                                for i in args[1]))
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
            return real(tensor, *args, **kwargs)
        return read
