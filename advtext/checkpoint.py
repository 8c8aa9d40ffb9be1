"""Run directories: ``model.safetensors`` + ``config.json`` (+ ``vocab.json`` for text models).

The same format serves text and image models; ``config["domain"]`` says which, so that a text
command given an image run (or the reverse) fails with a clear message.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path

from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from advtext import strict_json
from advtext.errors import AdvtextError

WEIGHTS, CONFIG = "model.safetensors", "config.json"
PROGRESS = "training-progress.safetensors"  # the state after the last finished epoch, while a training runs
STATE_TENSORS = ("model", "best_state")  # the training state's state dicts; the optimizer's tensors go apart


class SavedConfig:
    """Mixin for the model-config dataclasses: to and from the JSON dict of ``config.json``."""

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict):
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise AdvtextError(f"model config has unknown fields {sorted(unknown)}: it was not written by advtext")
        return cls(**d)


def write_progress(path: Path, state: dict) -> None:
    """The training state as one safetensors file: the tensors (state dicts, the optimizer's per-parameter
    tensors, random states) as tensors, the rest as JSON in its metadata. No pickle: reading it runs no code."""
    tensors = {}
    for part in STATE_TENSORS:
        for name, value in (state[part] or {}).items():
            tensors[f"{part}/{name}"] = value.detach().cpu().contiguous()
    optimizer = state["optimizer"]
    for index, per_param in optimizer["state"].items():
        for name, value in per_param.items():
            tensors[f"optimizer/{index}/{name}"] = value.detach().cpu().contiguous()
    for rank, rng in enumerate(state["torch_rng"]):  # one per rank under torchrun
        tensors[f"rng/torch/{rank}"] = rng
    cuda_rngs = [rng for rng in state["cuda_rng"] or [] if rng is not None]  # each rank's GPU's, on GPUs
    for rank, rng in enumerate(cuda_rngs):
        tensors[f"rng/cuda/{rank}"] = rng
    layout = {k: state[k] for k in ("identity", "history", "best", "stale")}
    layout.update(param_groups=optimizer["param_groups"], cuda_rngs=len(cuda_rngs),
                  torch_rngs=len(state["torch_rng"]),
                  best_state=state["best_state"] is not None)
    save_file(tensors, str(path), metadata={"advtext_training_state": strict_json.dumps(layout)})


def read_progress(path: Path) -> dict:
    """The state an interrupted training saved (``write_progress``); a damaged file is a one-line error."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            layout = json.loads((f.metadata() or {})["advtext_training_state"])
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, KeyError, ValueError) as e:
        raise AdvtextError(f"{path} is not a readable advtext training state ({type(e).__name__}): rerun with "
                           "--overwrite to start the training again") from None
    parts = {part: {k.split("/", 1)[1]: v for k, v in tensors.items() if k.startswith(part + "/")}
             for part in STATE_TENSORS}
    optimizer_state: dict[int, dict] = {}
    for key, value in tensors.items():
        if key.startswith("optimizer/"):
            _, index, name = key.split("/", 2)
            optimizer_state.setdefault(int(index), {})[name] = value
    return {"identity": layout["identity"], "history": layout["history"], "best": layout["best"],
            "stale": layout["stale"], "model": parts["model"],
            "best_state": parts["best_state"] if layout["best_state"] else None,
            "optimizer": {"state": optimizer_state, "param_groups": layout["param_groups"]},
            # one state per rank; a state saved before torchrun support holds a single "rng/torch"
            "torch_rng": ([tensors[f"rng/torch/{r}"] for r in range(layout["torch_rngs"])] if "torch_rngs" in layout
                          else [tensors["rng/torch"]]),
            "cuda_rng": [tensors[f"rng/cuda/{i}"] for i in range(layout["cuda_rngs"])] or None}


def check_run_dir(path: str | Path, overwrite: bool) -> Path:
    """Refuse an output path that already holds a model (unless ``overwrite``) or is a file.

    A training interrupted there is continued (its progress file is kept), or with ``overwrite``
    started again.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise AdvtextError(f"{path} exists and is not a directory: choose another --out")
    if (path / WEIGHTS).exists() and not overwrite:
        raise AdvtextError(f"{path} already holds a model: choose another --out or pass --overwrite")
    if overwrite:
        (path / PROGRESS).unlink(missing_ok=True)
    elif (path / PROGRESS).exists():
        read_progress(path / PROGRESS)  # a damaged state is refused before any work starts
    return path


def weights_digest(path: Path) -> str:
    """sha256 of a weights file (safetensors has no checksum of its own)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def save_model(run_dir: Path, model: nn.Module, config: dict) -> None:
    """Write the weights and the JSON config (which must say its ``domain``) into ``run_dir``; the
    config records the weights' sha256 (``weights_sha256``), checked whenever they are loaded."""
    run_dir.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(run_dir / WEIGHTS))
    config = {**config, "weights_sha256": weights_digest(run_dir / WEIGHTS)}
    (run_dir / CONFIG).write_text(strict_json.dumps(config, indent=1) + "\n", encoding="utf-8")


def load_config(run_dir: str | Path, domain: str) -> dict:
    """The run's config; errors for a missing run, a broken config, or the other domain's model."""
    run_dir = Path(run_dir)
    train = "advtext image train" if domain == "image" else "advtext train"
    if not run_dir.is_dir():
        raise AdvtextError(f"run directory {run_dir} not found: train one with `{train} --out {run_dir}`")
    if not (run_dir / WEIGHTS).exists() or not (run_dir / CONFIG).exists():
        raise AdvtextError(f"{run_dir} holds no model ({WEIGHTS} + {CONFIG}): train one with `{train}`")
    try:
        config = json.loads((run_dir / CONFIG).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise AdvtextError(f"{run_dir / CONFIG} is not valid JSON: retrain the model") from None
    if not isinstance(config, dict):
        raise AdvtextError(f"{run_dir / CONFIG} is not a JSON object: retrain the model")
    found = config.get("domain")
    if found != domain:
        other = "advtext image ..." if found == "image" else "advtext train/eval/attack ..."
        raise AdvtextError(f"{run_dir} holds a {found or 'unknown'} model, not a {domain} one: use `{other}`")
    if not isinstance(config.get("model"), dict):
        raise AdvtextError(f"{run_dir / CONFIG} does not describe the model (\"model\" is missing or not an object): "
                           f"retrain it with `{train}`")
    return config


def load_weights(run_dir: Path, model: nn.Module, config: dict) -> nn.Module:
    """Load the weights into ``model``; a changed file (its sha256 against the one ``config`` recorded at
    save time; runs saved before checksums were recorded have none) or a mismatch of names or shapes is
    a one-line error."""
    expected = config.get("weights_sha256")
    if expected is not None and (run_dir / WEIGHTS).exists() and weights_digest(run_dir / WEIGHTS) != expected:
        raise AdvtextError(f"{run_dir / WEIGHTS} has changed since it was saved (its sha256 differs from the one in "
                           f"{CONFIG}): restore the file or retrain the model")
    try:
        state = load_file(str(run_dir / WEIGHTS))
    except (SafetensorError, OSError) as e:
        raise AdvtextError(f"{run_dir / WEIGHTS} cannot be read ({e}): retrain the model") from None
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(state) & set(expected) if state[k].shape != expected[k].shape)
    if missing or unexpected or wrong:
        detail = "; ".join(f"{label}: {', '.join(keys[:3])}" for label, keys in
                           (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)) if keys)
        raise AdvtextError(f"{run_dir}: weights do not match config.json/vocab.json ({detail}); "
                           "the files come from different runs, retrain the model")
    model.load_state_dict(state)
    return model
