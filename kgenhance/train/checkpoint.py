"""Per-epoch training checkpoints, so a killed run resumes where it stopped and ends the same.

A checkpoint is a directory written aside and swapped in after every epoch (a kill never
leaves half of one): the trainable weights and the best epoch's weights, the optimizer's
tensors (safetensors, never pickle), the scheduler, the history, every random generator's
state (data order, dropout, Python, NumPy) and the entity embeddings, plus a fingerprint
of the settings and data so that a checkpoint is only resumed by the run that wrote it.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from .._io import atomic_directory
from ..errors import ConfigError, ModelError

STATE_FILE = "state.json"


def fingerprint(settings: dict[str, Any]) -> str:
    """A short digest of everything that must match for a checkpoint to be resumed."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:20]


def _tensors(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    # clone: safetensors refuses tensors that share storage
    return {k: v.detach().cpu().contiguous().clone() for k, v in state.items()}


@dataclass
class Checkpoint:
    """What `train_classifier` needs to continue after `epoch`."""

    epoch: int
    history: list[dict]
    best: dict | None
    model_state: dict[str, torch.Tensor]
    best_state: dict[str, torch.Tensor] | None
    optimizer_state: dict
    scheduler_state: dict
    order_generator: torch.Tensor
    torch_rng: torch.Tensor
    cuda_rng: list[torch.Tensor]
    python_rng: Any
    numpy_rng: Any
    embeddings_dir: Path | None
    log: list[dict] = field(default_factory=list)  # the metrics.jsonl records so far
    knowledge_rng: dict[str, torch.Tensor] | None = None  # the knowledge modules' own stream, per device (`kgenhance.model.rng`)


def save_checkpoint(
    directory: Path,
    *,
    key: str,
    epoch: int,
    history: list[dict],
    best: dict | None,
    model: torch.nn.Module,
    best_state: dict[str, torch.Tensor] | None,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    order_generator: torch.Generator,
    embeddings: Any = None,
    log: list[dict] | None = None,
    knowledge_rng: dict[str, torch.Tensor] | None = None,
) -> None:
    """Write the checkpoint of a finished epoch, replacing the previous one in one step."""
    opt = optimizer.state_dict()
    opt_tensors: dict[str, torch.Tensor] = {}
    opt_scalars: dict[str, dict[str, Any]] = {}
    for idx, per_param in opt["state"].items():
        for name, value in per_param.items():
            if isinstance(value, torch.Tensor):
                opt_tensors[f"{idx}.{name}"] = value
            else:
                opt_scalars.setdefault(str(idx), {})[name] = value
    np_state = np.random.get_state()
    py_state = random.getstate()
    state = {
        "key": key,
        "epoch": epoch,
        "history": history,
        "log": log or [],
        "best": best,
        "scheduler": scheduler.state_dict(),
        "optimizer_param_groups": opt["param_groups"],
        "optimizer_scalars": opt_scalars,
        "python_rng": [py_state[0], list(py_state[1]), py_state[2]],
        "numpy_rng": [np_state[0], np_state[1].tolist(), int(np_state[2]), int(np_state[3]), float(np_state[4])],
        "cuda_devices": torch.cuda.device_count() if torch.cuda.is_available() else 0,
    }
    rng = {"order": order_generator.get_state(), "torch": torch.get_rng_state()}
    for i in range(state["cuda_devices"]):
        rng[f"cuda{i}"] = torch.cuda.get_rng_state(i)
    for device, knowledge_state in (knowledge_rng or {}).items():
        rng["knowledge" if device == "cpu" else f"knowledge.{device}"] = knowledge_state
    with atomic_directory(directory) as tmp:
        save_file(_tensors(model.state_dict()), str(tmp / "model.safetensors"))
        if best_state is not None:
            save_file(_tensors(best_state), str(tmp / "best.safetensors"))
        save_file(_tensors(opt_tensors), str(tmp / "optimizer.safetensors"))
        save_file(_tensors(rng), str(tmp / "rng.safetensors"))
        if embeddings is not None:
            embeddings.save(tmp / "embeddings")
        (tmp / STATE_FILE).write_text(json.dumps(state, default=_json_default), encoding="utf-8")


def _json_default(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.tolist()
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    raise TypeError(f"cannot store {type(value).__name__} in a checkpoint")


def load_checkpoint(directory: Path, key: str) -> Checkpoint | None:
    """The checkpoint in `directory`, or None if there is none; a foreign one is a `ConfigError`."""
    state_file = directory / STATE_FILE
    if not state_file.is_file():
        return None
    try:
        state = json.loads(state_file.read_text(encoding="utf-8"))
        if state.get("key") != key:
            raise ConfigError(
                f"{directory}: this checkpoint was written by a run with other settings or data; "
                "delete it or run without --resume"
            )
        rng = load_file(str(directory / "rng.safetensors"))
        opt_tensors = load_file(str(directory / "optimizer.safetensors"))
        per_param: dict[int, dict[str, Any]] = {}
        for name, value in opt_tensors.items():
            idx, field = name.split(".", 1)
            per_param.setdefault(int(idx), {})[field] = value
        for idx, scalars in state["optimizer_scalars"].items():
            per_param.setdefault(int(idx), {}).update(scalars)
        best_file = directory / "best.safetensors"
        py = state["python_rng"]
        npr = state["numpy_rng"]
        return Checkpoint(
            epoch=int(state["epoch"]),
            history=state["history"],
            best=state["best"],
            model_state=load_file(str(directory / "model.safetensors")),
            best_state=load_file(str(best_file)) if best_file.is_file() else None,
            optimizer_state={"state": per_param, "param_groups": state["optimizer_param_groups"]},
            scheduler_state=state["scheduler"],
            order_generator=rng["order"],
            torch_rng=rng["torch"],
            cuda_rng=[rng[f"cuda{i}"] for i in range(int(state.get("cuda_devices", 0))) if f"cuda{i}" in rng],
            python_rng=(py[0], tuple(py[1]), py[2]),
            numpy_rng=(npr[0], np.asarray(npr[1], dtype=np.uint32), npr[2], npr[3], npr[4]),
            embeddings_dir=directory / "embeddings" if (directory / "embeddings").is_dir() else None,
            log=list(state.get("log", [])),
            knowledge_rng=_knowledge_states(rng),
        )
    except ConfigError:
        raise
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise ModelError(f"{directory}: cannot read the training checkpoint ({exc}); delete it to start over") from exc


def _knowledge_states(rng: dict[str, torch.Tensor]) -> dict[str, torch.Tensor] | None:
    """The knowledge stream's per-device states stored in `rng` ("knowledge" is the CPU's)."""
    states = {("cpu" if name == "knowledge" else name.split(".", 1)[1]): value
              for name, value in rng.items() if name == "knowledge" or name.startswith("knowledge.")}
    return states or None


def restore_random_state(ckpt: Checkpoint, order_generator: torch.Generator, model: Any = None) -> None:
    """Put every random generator (the `model`'s knowledge stream too) back where it was when the checkpoint was written."""
    order_generator.set_state(ckpt.order_generator)
    stream = getattr(model, "knowledge_rng", None)
    if stream is not None and ckpt.knowledge_rng is not None:
        stream.states.update(ckpt.knowledge_rng)
    torch.set_rng_state(ckpt.torch_rng)
    for i, s in enumerate(ckpt.cuda_rng):
        if i < torch.cuda.device_count():
            torch.cuda.set_rng_state(s, i)
    random.setstate(ckpt.python_rng)
    np.random.set_state(ckpt.numpy_rng)


def remove_checkpoint(directory: Path) -> None:
    """Delete a checkpoint once the run it belongs to has saved its model."""
    shutil.rmtree(directory, ignore_errors=True)
