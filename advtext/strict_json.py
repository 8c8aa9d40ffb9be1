"""Every JSON advtext writes is strict: an undefined figure is null, never NaN or Infinity."""

from __future__ import annotations

import json
from typing import Any


def dumps(obj: Any, **kwargs: Any) -> str:
    """``json.dumps`` that refuses NaN and infinities (a bug to fix where it happens, not a file to ship)."""
    return json.dumps(obj, allow_nan=False, **kwargs)
