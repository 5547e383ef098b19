"""Training checkpoints: one folder per save, tensors in safetensors, everything else in JSON.

    CHECKPOINT_DIR/epoch-0003/            (or epoch-0003-step-00120 after an interruption)
        weights.safetensors    encoder weights now
        best.safetensors       encoder weights of the best validation epoch so far
        optimizer.safetensors  optimizer state tensors (e.g. Adam moments)
        rng.safetensors        torch's CPU random state (under torchrun, every rank's: dropout
                               draws as many numbers as its batches hold, so they differ)
        vocab.txt              the vocabulary (line number = id)
        state.json             epoch, step, history, settings, optimizer hyperparameters,
                               Python random states; written last, so a folder without it
                               is an unfinished save and is ignored

No pickle anywhere: loading a checkpoint never runs code from the file.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from siamese_text.errors import CheckpointError, InputFileError
from siamese_text.model.crash_points import crash_point
from siamese_text.model.folder import remove_stale, swap_in
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
    rank_rngs: list[torch.Tensor] = field(default_factory=list)  # torchrun: torch's random state of each rank

    def torch_rng_of(self, rank: int) -> torch.Tensor:
        """The torch random state rank `rank` continues from (rank 0's when not saved for it)."""
        return self.rank_rngs[rank] if rank < len(self.rank_rngs) else self.torch_rng


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
    """Write `ckpt` into root/name and keep only the `keep` newest complete checkpoints.

    The folder is filled under a temporary name beside root/name and swapped in whole
    (`model.folder.swap_in`), so a crash leaves the old root/name or the new one, never a mix.
    Temporary folders of killed saves under root are removed first.
    """
    from safetensors.torch import save_file

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    remove_stale_checkpoints(root)
    folder = root / name
    tmp = root / f".{name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        opt_tensors, opt_rest = _optimizer_tensors(ckpt.optimizer)
        files = {"weights.safetensors": ckpt.weights, "best.safetensors": ckpt.best,
                 "optimizer.safetensors": opt_tensors, "rng.safetensors": {"torch": ckpt.torch_rng,
                                                             **{f"torch.rank{r}": t for r, t in
                                                                enumerate(ckpt.rank_rngs)}}}
        if ckpt.average:
            files["average.safetensors"] = ckpt.average
        for file, tensors in files.items():
            save_file({k: v.detach().contiguous() for k, v in tensors.items()}, str(tmp / file))
            crash_point("checkpoint.file-written")
        ckpt.vocab.save(tmp / "vocab.txt")
        crash_point("checkpoint.file-written")
        state = dict(ckpt.state, optimizer=opt_rest)
        (tmp / STATE_FILE).write_text(json.dumps(state, indent=1), encoding="utf-8")
        crash_point("checkpoint.state-written")
        swap_in(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for old in complete_checkpoints(root)[:-keep]:
        trash = root / f".{old.name}.tmp-{uuid.uuid4().hex[:8]}"
        os.replace(old, trash)  # first: a removal cut short leaves a temporary folder, not half a checkpoint
        crash_point("checkpoint.pruning")
        shutil.rmtree(trash, ignore_errors=True)
        crash_point("checkpoint.pruned")
    return folder


def remove_stale_checkpoints(root: Path) -> None:
    """Remove what killed saves left under root (`.NAME.tmp-*`; `.NAME.old-*` is put back if NAME is gone)."""
    for stale in sorted(root.glob(".*.tmp-*")) + sorted(root.glob(".*.old-*")):
        name = stale.name[1:].rsplit(".", 1)[0]  # ".epoch-0003.tmp-0a1b2c3d" -> "epoch-0003"
        if name:
            remove_stale(root / name)


def complete_checkpoints(root: str | Path) -> list[Path]:
    """Checkpoint folders under root that finished saving, oldest first (temporary ones never count)."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir()
             if p.is_dir() and not p.name.startswith(".") and (p / STATE_FILE).is_file()]
    return sorted(found, key=lambda p: p.name)


def latest_checkpoint(root: str | Path) -> Path | None:
    """The newest complete checkpoint folder under root, or None."""
    found = complete_checkpoints(root)
    return found[-1] if found else None


def load_checkpoint(folder: str | Path) -> Checkpoint:
    """Read a checkpoint folder written by `save_checkpoint`.

    Raises:
        CheckpointError: a missing or unreadable file, named in the message.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    folder = Path(folder)

    def tensors(name: str) -> dict[str, torch.Tensor]:
        try:
            return load_file(str(folder / name))
        except (SafetensorError, OSError, ValueError) as exc:
            raise CheckpointError(f"{folder / name}: unreadable checkpoint file ({exc})") from None

    try:
        state = json.loads((folder / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{folder / STATE_FILE}: unreadable checkpoint state ({exc})") from None
    try:
        vocab = Vocab.load(folder / "vocab.txt")
    except InputFileError as exc:  # a file of the checkpoint folder
        raise CheckpointError(str(exc)) from None
    optimizer = _optimizer_state(tensors("optimizer.safetensors"), state.pop("optimizer", {"param_groups": []}))
    rngs = tensors("rng.safetensors")
    if "torch" not in rngs:
        raise CheckpointError(f"{folder / 'rng.safetensors'}: unreadable checkpoint file (no torch random state)")
    rank_rngs = [rngs[f"torch.rank{r}"] for r in range(len(rngs)) if f"torch.rank{r}" in rngs]
    return Checkpoint(weights=tensors("weights.safetensors"), best=tensors("best.safetensors"),
                      optimizer=optimizer, torch_rng=rngs["torch"], rank_rngs=rank_rngs,
                      vocab=vocab, state=state,
                      average=tensors("average.safetensors") if (folder / "average.safetensors").exists() else {})


def rng_to_json(state: tuple) -> list:
    """random.Random.getstate() -> JSON-able list."""
    version, internal, gauss = state
    return [version, list(internal), gauss]


def rng_from_json(data: list) -> tuple:
    version, internal, gauss = data
    return (version, tuple(internal), gauss)
