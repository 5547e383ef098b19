"""Training checkpoints: one folder per save, tensors in safetensors, everything else in JSON.

    CHECKPOINT_DIR/epoch-0003/            (or epoch-0003-step-00120 after an interruption)
        weights.safetensors    encoder weights now
        best.safetensors       encoder weights of the best validation epoch so far
        optimizer.safetensors  optimizer state tensors (e.g. Adam moments)
        rng.safetensors        torch's CPU random state
        vocab.txt              the vocabulary (line number = id)
        state.json             epoch, step, history, settings, optimizer hyperparameters,
                               Python random states; written last, so a folder without it
                               is an unfinished save and is ignored

No pickle anywhere: loading a checkpoint never runs code from the file.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from siamese_text.errors import SiameseTextError
from siamese_text.text.vocab import Vocab

STATE_FILE = "state.json"


@dataclass
class Checkpoint:
    """What a training run needs to continue exactly where it stopped."""

    weights: dict[str, torch.Tensor]
    best: dict[str, torch.Tensor]
    optimizer: dict[str, Any]  # an optimizer state_dict
    torch_rng: torch.Tensor
    vocab: Vocab
    state: dict[str, Any] = field(default_factory=dict)  # epoch, step, history, settings, rng, ...
    average: dict[str, torch.Tensor] = field(default_factory=dict)  # moving average of the weights (if kept)


def _optimizer_tensors(opt_state: dict) -> tuple[dict[str, torch.Tensor], dict]:
    """Split an optimizer state_dict into flat tensors and a JSON-able rest."""
    tensors, scalars = {}, {}
    for pid, slots in opt_state["state"].items():
        for name, value in slots.items():
            key = f"{pid}.{name}"
            if isinstance(value, torch.Tensor):
                tensors[key] = value.detach().contiguous()
            else:
                scalars[key] = value
    return tensors, {"param_groups": opt_state["param_groups"], "scalars": scalars}


def _optimizer_state(tensors: dict[str, torch.Tensor], rest: dict) -> dict:
    state: dict[int, dict[str, Any]] = {}
    for key, value in list(tensors.items()) + list(rest.get("scalars", {}).items()):
        pid, name = key.split(".", 1)
        state.setdefault(int(pid), {})[name] = value
    return {"state": state, "param_groups": rest["param_groups"]}


def save_checkpoint(root: str | Path, name: str, ckpt: Checkpoint, keep: int = 1) -> Path:
    """Write `ckpt` into root/name and keep only the `keep` newest complete checkpoints."""
    from safetensors.torch import save_file

    root = Path(root)
    folder = root / name
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    save_file({k: v.detach().contiguous() for k, v in ckpt.weights.items()}, str(folder / "weights.safetensors"))
    save_file({k: v.detach().contiguous() for k, v in ckpt.best.items()}, str(folder / "best.safetensors"))
    opt_tensors, opt_rest = _optimizer_tensors(ckpt.optimizer)
    save_file(opt_tensors, str(folder / "optimizer.safetensors"))
    save_file({"torch": ckpt.torch_rng.contiguous()}, str(folder / "rng.safetensors"))
    if ckpt.average:
        save_file({k: v.detach().contiguous() for k, v in ckpt.average.items()}, str(folder / "average.safetensors"))
    ckpt.vocab.save(folder / "vocab.txt")
    state = dict(ckpt.state, optimizer=opt_rest)
    tmp = folder / (STATE_FILE + ".tmp")
    tmp.write_text(json.dumps(state, indent=1), encoding="utf-8")
    tmp.replace(folder / STATE_FILE)
    for old in complete_checkpoints(root)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return folder


def complete_checkpoints(root: str | Path) -> list[Path]:
    """Checkpoint folders under root that finished saving, oldest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and (p / STATE_FILE).is_file()]
    return sorted(found, key=lambda p: p.name)


def latest_checkpoint(root: str | Path) -> Path | None:
    """The newest complete checkpoint folder under root, or None."""
    found = complete_checkpoints(root)
    return found[-1] if found else None


def load_checkpoint(folder: str | Path) -> Checkpoint:
    """Read a checkpoint folder written by `save_checkpoint`.

    Raises:
        SiameseTextError: a missing or unreadable file, named in the message.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    folder = Path(folder)

    def tensors(name: str) -> dict[str, torch.Tensor]:
        try:
            return load_file(str(folder / name))
        except (SafetensorError, OSError, ValueError) as exc:
            raise SiameseTextError(f"{folder / name}: unreadable checkpoint file ({exc})") from None

    try:
        state = json.loads((folder / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SiameseTextError(f"{folder / STATE_FILE}: unreadable checkpoint state ({exc})") from None
    optimizer = _optimizer_state(tensors("optimizer.safetensors"), state.pop("optimizer", {"param_groups": []}))
    return Checkpoint(weights=tensors("weights.safetensors"), best=tensors("best.safetensors"),
                      optimizer=optimizer, torch_rng=tensors("rng.safetensors")["torch"],
                      vocab=Vocab.load(folder / "vocab.txt"), state=state,
                      average=tensors("average.safetensors") if (folder / "average.safetensors").exists() else {})


def rng_to_json(state: tuple) -> list:
    """random.Random.getstate() -> JSON-able list."""
    version, internal, gauss = state
    return [version, list(internal), gauss]


def rng_from_json(data: list) -> tuple:
    version, internal, gauss = data
    return (version, tuple(internal), gauss)
