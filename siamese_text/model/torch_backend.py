"""torch as an inference backend of SiameseModel: the trained nn.Module, in float32 or int8.

The NumPy path (numpy_encoder.py) is the default and the reference. This backend runs the same
weights through `torch_encoder.Encoder`, either a module loaded from a folder or the live module
a Trainer is training (so validation during training sees the current weights without a copy).
int8 is torch's dynamic quantization of the LSTM and Linear layers. Needs the `train` extra.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from siamese_text.extras import require
from siamese_text.model.folder import EncoderConfig


class TorchBackend:
    """Runs a torch Encoder on the padded NumPy arrays of `features.pad_batch`.

    Args:
        module: a `torch_encoder.Encoder` (or its int8-quantized copy).
        threads: torch intra-op threads while encoding (restored afterwards); 0 leaves torch's.
    """

    def __init__(self, module, threads: int = 1, int8: bool = False) -> None:
        self.module = module
        self.config: EncoderConfig = module.config
        self.threads = threads
        self.int8 = int8

    @property
    def weights(self) -> dict[str, np.ndarray]:
        """The module's float32 weights under their state-dict names (not for an int8 copy)."""
        if self.int8:
            raise ValueError("an int8-quantized model has no float weights; use the float model")
        return {k: v.detach().float().numpy().copy() for k, v in self.module.state_dict().items()}

    def __call__(self, **arrays: np.ndarray) -> np.ndarray:
        """(B, T) ids, (B,) lengths [, n-grams] as NumPy arrays -> (B, D) float32 vectors."""
        torch = require("torch", "train")
        before = torch.get_num_threads()
        if self.threads:
            torch.set_num_threads(self.threads)
        try:
            self.module.eval()
            with torch.inference_mode():
                out = self.module(**{k: torch.from_numpy(v) for k, v in arrays.items()})
            return out.float().numpy()
        finally:
            torch.set_num_threads(before)


def torch_backend(config: EncoderConfig, weights: Mapping[str, np.ndarray], int8: bool = False,
                  threads: int = 1) -> TorchBackend:
    """A TorchBackend holding an Encoder of `config` with `weights` (float32), optionally int8."""
    torch = require("torch", "train")
    from siamese_text.model.torch_encoder import Encoder

    module = Encoder(config)
    module.load_state_dict({k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in weights.items()})
    module.eval()
    if int8:
        import warnings

        with warnings.catch_warnings():  # torch.ao.quantization is deprecated in favour of torchao
            warnings.simplefilter("ignore")
            module = torch.ao.quantization.quantize_dynamic(module, {torch.nn.LSTM, torch.nn.Linear},
                                                            dtype=torch.qint8)
    return TorchBackend(module, threads=threads, int8=int8)
