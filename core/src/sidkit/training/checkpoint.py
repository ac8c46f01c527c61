"""Training checkpoints: model, optimizer, scheduler, loop position and RNG state, without pickle.

A checkpoint is a directory ``<root>/step-<global step>-<nonce>/`` holding

- ``model.safetensors``: the model's ``state_dict``;
- ``train_state.safetensors``: every tensor of the optimizer/scheduler state
  (e.g. ``optimizer.state.3.exp_avg``);
- ``state.json``: everything else: optimizer param groups and scalars, scheduler state,
  the caller's loop state, metadata and per-rank RNG states.

It is written into ``<root>/.tmp-*`` and renamed into place, and only then is
``<root>/latest.json`` (written atomically, last) pointed at it, so a process killed at any
moment leaves the previous checkpoint loadable. Older checkpoints are removed afterwards.
"""

from __future__ import annotations

import base64
import json
import os
import random
import secrets
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import torch
from safetensors.torch import load_file, save, save_file

from ..artifacts import atomic_write_bytes, fsync_dir
from ..errors import ArtifactError

__all__ = [
    "Checkpoint",
    "save_checkpoint",
    "load_checkpoint",
    "read_checkpoint",
    "latest_checkpoint",
    "save_weights",
    "load_weights",
    "capture_rng",
    "restore_rng",
]

FORMAT = "sidkit.checkpoint/1"
LATEST = "latest.json"
MODEL_FILE = "model.safetensors"
TENSORS_FILE = "train_state.safetensors"
STATE_FILE = "state.json"


@attrs.frozen
class Checkpoint:
    """A checkpoint's JSON part: where it is, the loop ``state``, ``metadata`` and one RNG
    state per rank that wrote it."""

    path: Path
    state: dict[str, Any]
    metadata: dict[str, Any]
    rng: list[dict[str, Any]]


# -- files ------------------------------------------------------------------------------


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ArtifactError(f"{path}: missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"{path}: not valid JSON ({exc})") from None


def _load_tensors(path: Path) -> dict[str, torch.Tensor]:
    if not path.exists():
        raise ArtifactError(f"{path}: missing")
    try:
        return load_file(str(path), device="cpu")
    except Exception as exc:
        raise ArtifactError(f"{path}: not a readable safetensors file ({exc})") from None


# -- nested state <-> JSON + named tensors -------------------------------------------------


def _split(obj: Any, key: str, tensors: dict[str, torch.Tensor]) -> Any:
    """JSON-able copy of ``obj`` with every tensor moved into ``tensors`` under a dotted key."""
    if isinstance(obj, torch.Tensor):
        tensors[key] = obj.detach().to("cpu", copy=True).contiguous()
        return {"__tensor__": key}
    if isinstance(obj, Mapping):
        if all(isinstance(k, str) for k in obj):
            return {k: _split(v, f"{key}.{k}", tensors) for k, v in obj.items()}
        return {"__items__": [[k, _split(v, f"{key}.{k}", tensors)] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        return [_split(v, f"{key}.{i}", tensors) for i, v in enumerate(obj)]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"cannot checkpoint {key}: {type(obj).__name__} is neither a tensor nor JSON data")


def _join(obj: Any, tensors: Mapping[str, torch.Tensor], source: Path) -> Any:
    """Inverse of :func:`_split`."""
    if isinstance(obj, dict):
        if set(obj) == {"__tensor__"}:
            if obj["__tensor__"] not in tensors:
                raise ArtifactError(f"{source}: tensor {obj['__tensor__']!r} missing")
            return tensors[obj["__tensor__"]]
        if set(obj) == {"__items__"}:
            return {k: _join(v, tensors, source) for k, v in obj["__items__"]}
        return {k: _join(v, tensors, source) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_join(v, tensors, source) for v in obj]
    return obj


# -- model weights ------------------------------------------------------------------------


def _model_tensors(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    # copies: safetensors refuses tensors sharing memory (tied weights, views)
    return {k: v.detach().to("cpu", copy=True).contiguous() for k, v in model.state_dict().items()}


def _check_fits(tensors: Mapping[str, torch.Tensor], model: torch.nn.Module, source: Path) -> None:
    expected = model.state_dict()
    problems = []
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing:
        problems.append("missing " + ", ".join(missing))
    if unexpected:
        problems.append("unexpected " + ", ".join(unexpected))
    for k in sorted(set(tensors) & set(expected)):
        if tensors[k].shape != expected[k].shape:
            problems.append(f"{k} has shape {tuple(tensors[k].shape)}, the model expects {tuple(expected[k].shape)}")
    if problems:
        raise ArtifactError(
            f"{source}: weights do not fit the model ({'; '.join(problems)}); "
            "was it written by a different model config?"
        )


def save_weights(path: Path | str, model: torch.nn.Module, metadata: Mapping[str, str] | None = None) -> None:
    """Write the model's ``state_dict`` to a safetensors file, atomically."""
    atomic_write_bytes(Path(path), save(_model_tensors(model), metadata=dict(metadata or {})))


def load_weights(path: Path | str, model: torch.nn.Module) -> None:
    """Load a safetensors ``state_dict`` into ``model``; :class:`ArtifactError` names every
    missing, unexpected or mis-shaped tensor."""
    path = Path(path)
    tensors = _load_tensors(path)
    _check_fits(tensors, model, path)
    model.load_state_dict(tensors)


# -- RNG ----------------------------------------------------------------------------------


def _b64(t: torch.Tensor) -> str:
    return base64.b64encode(t.cpu().numpy().tobytes()).decode("ascii")


def _unb64(text: str) -> torch.Tensor:
    return torch.frombuffer(bytearray(base64.b64decode(text)), dtype=torch.uint8)


def capture_rng(device: torch.device | str | None = None) -> dict[str, Any]:
    """This process's RNG states (torch CPU, ``device``'s CUDA/MPS generator, numpy's and
    Python's global RNG) as JSON data."""
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    version, py_state, py_gauss = random.getstate()
    out: dict[str, Any] = {
        "torch": _b64(torch.get_rng_state()),
        "numpy": {"name": name, "keys": keys.tolist(), "pos": pos, "has_gauss": has_gauss, "gauss": gauss},
        "python": [version, list(py_state), py_gauss],
    }
    dev = torch.device(device) if device is not None else torch.device("cpu")
    if dev.type == "cuda":
        out["cuda"] = _b64(torch.cuda.get_rng_state(dev))
    elif dev.type == "mps":
        out["mps"] = _b64(torch.mps.get_rng_state())
    return out


def restore_rng(state: Mapping[str, Any], device: torch.device | str | None = None) -> None:
    """Inverse of :func:`capture_rng`."""
    torch.set_rng_state(_unb64(state["torch"]))
    n = state["numpy"]
    np.random.set_state((n["name"], np.asarray(n["keys"], dtype=np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    version, py_state, py_gauss = state["python"]
    random.setstate((version, tuple(py_state), py_gauss))
    dev = torch.device(device) if device is not None else torch.device("cpu")
    if dev.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(_unb64(state["cuda"]), dev)
    elif dev.type == "mps" and "mps" in state:
        torch.mps.set_rng_state(_unb64(state["mps"]))


# -- checkpoints --------------------------------------------------------------------------


def latest_checkpoint(root: Path | str) -> Path | None:
    """The directory ``<root>/latest.json`` points at, or ``None`` when there is none."""
    root = Path(root)
    pointer = root / LATEST
    if not pointer.exists():
        return None
    name = _read_json(pointer).get("checkpoint")
    path = root / str(name)
    if not name or not (path / STATE_FILE).exists():
        raise ArtifactError(f"{pointer}: points at {name!r}, which is not a complete checkpoint in {root}")
    return path


def read_checkpoint(root: Path | str) -> Checkpoint | None:
    """The latest checkpoint's JSON part (cheap: no tensors are read), or ``None``."""
    path = latest_checkpoint(root)
    if path is None:
        return None
    doc = _read_json(path / STATE_FILE)
    if doc.get("format") != FORMAT:
        raise ArtifactError(f"{path / STATE_FILE}: not a {FORMAT} checkpoint (format {doc.get('format')!r})")
    return Checkpoint(path, doc["state"], doc["metadata"], doc["rng"])


def _prune(root: Path, keep: str) -> None:
    for entry in root.iterdir():
        if entry.name != keep and entry.name.startswith(("step-", ".tmp-")):
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)


def save_checkpoint(
    root: Path | str,
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any | None = None,
    state: Mapping[str, Any] | None = None,
    metadata: Mapping[str, Any] | None = None,
    rng: list[dict[str, Any]] | None = None,
) -> Path:
    """Write a checkpoint under ``root`` and make it the latest; return its directory.

    ``state`` (loop position, early-stopping state, ...) and ``metadata`` must be JSON data;
    ``rng`` is one :func:`capture_rng` result per rank (default: this process's).
    Only one process may write to ``root``.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    state = dict(state or {})
    tensors: dict[str, torch.Tensor] = {}
    doc = {
        "format": FORMAT,
        "state": _split(state, "state", tensors),
        "metadata": dict(metadata or {}),
        "optimizer": _split(optimizer.state_dict(), "optimizer", tensors) if optimizer is not None else None,
        "scheduler": _split(scheduler.state_dict(), "scheduler", tensors) if scheduler is not None else None,
        "rng": rng if rng is not None else [capture_rng()],
    }
    name = f"step-{int(state.get('global_step', 0)):09d}-{secrets.token_hex(4)}"
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{name}.", dir=root))
    try:
        tmp.chmod(0o755)
        save_file(_model_tensors(model), str(tmp / MODEL_FILE))
        save_file(tensors, str(tmp / TENSORS_FILE))
        (tmp / STATE_FILE).write_text(json.dumps(doc), encoding="utf-8")
        for f in tmp.iterdir():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
        fsync_dir(tmp)
        os.replace(tmp, root / name)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    fsync_dir(root)
    atomic_write_bytes(root / LATEST, json.dumps({"checkpoint": name}).encode("utf-8"))
    _prune(root, keep=name)
    return root / name


def load_checkpoint(
    root: Path | str,
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any | None = None,
    restore_rng_of_rank: int | None = 0,
    device: torch.device | str | None = None,
) -> Checkpoint | None:
    """Load the latest checkpoint under ``root`` into ``model`` (and ``optimizer``,
    ``scheduler``); return its JSON part, or ``None`` when there is no checkpoint.

    The weights are checked against the model first (:class:`ArtifactError` names the
    mismatching tensors). Unless ``restore_rng_of_rank`` is ``None``, the RNG states saved by
    that rank (modulo the number saved) are restored, CUDA/MPS ones on ``device``.
    """
    ckpt = read_checkpoint(root)
    if ckpt is None:
        return None
    load_weights(ckpt.path / MODEL_FILE, model)
    doc = _read_json(ckpt.path / STATE_FILE)
    tensors = _load_tensors(ckpt.path / TENSORS_FILE)
    for part, obj in (("optimizer", optimizer), ("scheduler", scheduler)):
        if obj is None:
            continue
        if doc.get(part) is None:
            raise ArtifactError(f"{ckpt.path}: has no {part} state")
        try:
            obj.load_state_dict(_join(doc[part], tensors, ckpt.path))
        except (ValueError, KeyError, RuntimeError) as exc:
            raise ArtifactError(f"{ckpt.path}: {part} state does not fit ({exc})") from None
    state = _join(ckpt.state, tensors, ckpt.path)
    if restore_rng_of_rank is not None and ckpt.rng:
        restore_rng(ckpt.rng[restore_rng_of_rank % len(ckpt.rng)], device)
    return attrs.evolve(ckpt, state=state)
