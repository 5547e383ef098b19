"""Export the encoder after its embedding (BiLSTM, pooling, projection) to ONNX. Needs torch.

The exported graph reads what NumPy builds cheaply, token vectors and lengths, and returns the
tower's vectors:

    x        (B, T, E) float32   word vector + mean n-gram vector of each position (NumpyEncoder.embed)
    lengths  (B,)      int64     tokens of each row; 0 gives a zero vector
    vectors  (B, D)    float32   what torch_encoder.Encoder returns

`pack_padded_sequence` + `nn.LSTM` through torch's TorchScript exporter (`dynamo=False`, opset
17) become one ONNX `LSTM` op per layer fed the per-row lengths, so variable lengths are handled
exactly, without running padding steps. It lives in model/ beside torch_backend.py (imports flow
downward only, and loading with backend="onnx" exports on the fly); torch and onnx are imported
inside the functions, so the light core never loads them. onnx_backend.py runs the result.

    python -m siamese_text.model.onnx_export MODEL_DIR    # writes encoder.onnx, encoder.int8.onnx
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from siamese_text.errors import OutputError, SiameseTextError
from siamese_text.extras import require
from siamese_text.model import folder
from siamese_text.model.folder import EncoderConfig
from siamese_text.model.onnx_backend import GRAPH_VERSION

OPSET = 17
INPUTS, OUTPUT = ("x", "lengths"), "vectors"


def _recurrent_module(encoder):
    """Encoder.forward after the embedding, as a module of (x, lengths): packed BiLSTM, pooling, projection."""
    torch = require("torch", "train", "exporting to ONNX")
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    class Recurrent(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm, self.projection = encoder.lstm, encoder.projection
            self.pooling = encoder.config.pooling

        def forward(self, x, lengths):
            T = x.shape[1]
            nonempty = (lengths > 0).unsqueeze(1)  # (B, 1)
            packed = pack_padded_sequence(x, lengths.clamp_min(1), batch_first=True, enforce_sorted=False)
            out, _ = self.lstm(packed)
            out, _ = pad_packed_sequence(out, batch_first=True, total_length=T)  # (B, T, 2H)
            mask = (torch.arange(T).unsqueeze(0) < lengths.unsqueeze(1)).unsqueeze(2)  # (B, T, 1)
            if self.pooling == "mean":
                pooled = (out * mask).sum(1) / lengths.clamp_min(1).unsqueeze(1).to(out.dtype)
            elif self.pooling == "max":
                pooled = out.masked_fill(~mask, float("-inf")).max(1).values
            else:  # last: forward state at each row's last step, backward state at step 0 (= h_n;
                # read from `out`, as the exporter fails on h_n of a packed sequence)
                H = out.shape[2] // 2
                last = (lengths.clamp_min(1) - 1).view(-1, 1, 1).expand(-1, 1, H)  # (B, 1, H)
                pooled = torch.cat([out[:, :, :H].gather(1, last).squeeze(1), out[:, 0, H:]], dim=1)
            pooled = torch.where(nonempty, pooled, torch.zeros_like(pooled))
            if self.projection is not None:
                projected = self.projection(pooled)
                pooled = torch.where(nonempty, projected, torch.zeros_like(projected))
            return pooled

    return Recurrent().eval()


def export_onnx(config: EncoderConfig, weights: Mapping[str, np.ndarray], digest: str) -> bytes:
    """The serialized ONNX model of the tower after its embedding, holding `weights` (float32).

    Args:
        digest: `onnx_backend.weights_digest(weights)`, stored in the model's metadata so that a
            cached copy is used only with the weights it was exported from.
    """
    torch = require("torch", "train", "exporting to ONNX")
    onnx = require("onnx", "onnx", "exporting to ONNX")
    from siamese_text.model.torch_encoder import Encoder

    encoder = Encoder(config)
    encoder.load_state_dict({k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in weights.items()})
    module = _recurrent_module(encoder.eval())
    example = (torch.zeros(3, 4, config.embedding_dim), torch.tensor([4, 2, 0]))
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad(), _quiet_stderr():  # about packed sequences, batch_first
        warnings.simplefilter("ignore")
        torch.onnx.export(module, example, buffer, input_names=list(INPUTS), output_names=[OUTPUT],
                          dynamic_axes={"x": {0: "batch", 1: "tokens"}, "lengths": {0: "batch"},
                                        OUTPUT: {0: "batch"}},
                          opset_version=OPSET, dynamo=False)
    model = onnx.load_from_string(buffer.getvalue())
    for key, value in (("siamese_text_graph", str(GRAPH_VERSION)), ("weights_sha256", digest)):
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    return model.SerializeToString()


@contextlib.contextmanager
def _quiet_stderr():
    """Silence file descriptor 2 for a while: torch's C++ exporter warns there about packed
    sequences (shape inference of PackPadded), which says nothing to whoever trains a model."""
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # a captured stderr (pytest, a notebook): nothing to do
        yield
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), fd)
            yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)


def exported_or_none(config: EncoderConfig, weights: Mapping[str, np.ndarray], dtype: str = "float32") -> bytes | None:
    """The network of `weights` as a folder saved in `dtype` holds them (what `SiameseModel.save(network=True)`
    writes), or None when torch or onnx is missing to export it."""
    from siamese_text.extras import MissingExtra
    from siamese_text.model.onnx_backend import weights_digest

    saved = {k: np.asarray(v, dtype=dtype).astype(np.float32) for k, v in weights.items()}
    try:
        return export_onnx(config, saved, weights_digest(config, saved))
    except MissingExtra:
        return None


def quantize_int8(model_bytes: bytes) -> bytes:
    """`model_bytes` with its LSTM and MatMul weights in int8 (ONNX Runtime's dynamic quantization)."""
    require("onnx", "onnx", "int8 quantization of the ONNX model")
    ort_quant = require("onnxruntime.quantization", "onnx", "int8 quantization of the ONNX model")
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        source, target = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        source.write_bytes(model_bytes)
        ort_quant.quantize_dynamic(source, target, weight_type=ort_quant.QuantType.QInt8)
        return target.read_bytes()


def export_folder(path: Path, int8: bool = True) -> list[Path]:
    """Write the network of model folder `path` beside its weights: encoder.onnx (and encoder.int8.onnx).

    What ships in the bundled model (scripts/stamp_default_model.py runs it); any folder gains
    the same, so that `SiameseModel.load(path)` runs on ONNX Runtime without torch.
    """
    from siamese_text.model.onnx_backend import weights_digest
    from siamese_text.model.siamese import SiameseModel

    model = SiameseModel.load(path, backend="numpy")
    config, weights = model.encoder_config, model.weights
    network = export_onnx(config, weights, weights_digest(config, weights))
    files = {folder.ENCODER_ONNX: network}
    if int8:
        quiet = logging.getLogger()  # the quantizer logs a hint about pre-processing on the root logger
        level = quiet.level
        quiet.setLevel(logging.ERROR)
        try:
            files[folder.ENCODER_ONNX_INT8] = quantize_int8(network)
        finally:
            quiet.setLevel(level)
    written = []
    for name, data in files.items():
        if not folder.write_optional(path, name, data):
            raise OutputError(f"{path / name}: cannot be written (is the folder read-only?)")
        written.append(path / name)
    return written


def main(argv: list[str] | None = None) -> None:
    """python -m siamese_text.model.onnx_export MODEL_DIR [--no-int8]"""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m siamese_text.model.onnx_export",
                                     description="Write a model folder's network for ONNX Runtime "
                                                 "(encoder.onnx, encoder.int8.onnx). Needs torch and onnx.")
    parser.add_argument("model_dir", type=Path)
    parser.add_argument("--no-int8", action="store_true", help="skip encoder.int8.onnx")
    args = parser.parse_args(argv)
    try:
        for file in export_folder(args.model_dir, int8=not args.no_int8):
            print(f"wrote {file} ({file.stat().st_size / 1e6:.1f} MB)")
    except SiameseTextError as exc:
        raise SystemExit(f"error: {exc}") from None


if __name__ == "__main__":
    main()
