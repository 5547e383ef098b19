"""An exponential moving average of a network's weights (TrainConfig.average).

Validation, early stopping and the saved model use the average; training goes on from the raw
weights, which `swapped_in` puts back when the block ends.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


class WeightAverage:
    """average <- decay * average + (1 - decay) * weights, after every optimizer step."""

    def __init__(self, network: torch.nn.Module, decay: float, tensors: dict[str, torch.Tensor] | None = None):
        self.decay = decay
        self.tensors = tensors if tensors is not None else {
            k: v.detach().clone() for k, v in network.state_dict().items()}

    @torch.no_grad()
    def update(self, network: torch.nn.Module) -> None:
        for k, v in network.state_dict().items():
            if v.is_floating_point():
                self.tensors[k].mul_(self.decay).add_(v.detach(), alpha=1.0 - self.decay)
            else:
                self.tensors[k].copy_(v)

    @contextlib.contextmanager
    def swapped_in(self, network: torch.nn.Module) -> Iterator[None]:
        """The network holds the average inside the block, its own weights again after it."""
        raw = {k: v.detach().clone() for k, v in network.state_dict().items()}
        network.load_state_dict(self.tensors)
        try:
            yield
        finally:
            network.load_state_dict(raw)
