"""SiameseModel: tokenizer + vocabulary + shared encoder + energy + calibration, in one folder.

One class for every use, and neither torch nor spaCy needed to score, embed, dedup or search.
The backend seam: `load()` runs the BiLSTM in ONNX Runtime (onnx_backend.py) when onnxruntime is
installed and the folder carries the exported network (the bundled model does), else on the NumPy
forward pass (numpy_encoder.py, the reference); `backend=` asks for one ("numpy", "onnx",
"onnx-int8", or torch's "torch" / "int8"), and `card()` says which runs and why. The training side
wraps the module it is training in the same class. The folder format (file names, schema, checks,
atomic writes) belongs to folder.py.

    >>> model = SiameseModel.load()            # the bundled model, ONNX Runtime or NumPy
    >>> model.similarity("How do I learn Python?", "What is the best way to learn Python?")
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from siamese_text.errors import ArgumentError, InputFileError
from siamese_text.model import folder
from siamese_text.model.backends import BACKENDS, INT8, available_cpus, blas_threads, build_encoder  # noqa: F401
from siamese_text.model.batching import BatchPlan
from siamese_text.model.calibration import Calibration
from siamese_text.model.energy import Energy, pairwise_energy, rowwise_energy
from siamese_text.model.folder import DEFAULT_MODEL_DIR, EncoderConfig, ModelSpec
from siamese_text.model.numpy_encoder import NumpyEncoder
from siamese_text.text.features import Featurizer
from siamese_text.text.tokenizer import Tokenizer, TokenizerConfig
from siamese_text.text.vocab import Vocab


@dataclass(frozen=True)
class Match:
    """One candidate returned by `SiameseModel.most_similar`."""

    text: str  # the candidate
    index: int  # its position in the candidates list
    probability: float  # calibrated probability that it means the same as the query
    paraphrase: bool  # probability >= the model's threshold


class SiameseModel:
    """Decides whether two texts mean the same thing.

    Args:
        encoder: the shared tower: a NumpyEncoder, a torch_backend.TorchBackend, or a torch
            `Encoder` module (wrapped in a TorchBackend; what the training side passes).
        vocab: token <-> id mapping the encoder was trained with.
        energy: distance between the two embeddings (lower = more alike).
        calibration: energy -> probability; fitted on held-out pairs.
        threshold: probability at or above which a pair is called a paraphrase.
        tokenizer_config: how texts are split, exactly as in training.
        meta: provenance and metrics (what it was trained on, validation numbers).
        threads: threads while encoding. On the NumPy and ONNX Runtime paths, `encode` runs its
            length-sorted batches on this many threads at once (one ONNX Runtime session or one
            BLAS thread each; both release the GIL). The torch backend sets torch's threads.
            0 leaves the libraries' defaults, on one batch at a time.
    """

    batch_size = 128  # texts per forward pass: a batch's (B, T, 4H) gate inputs stay in cache
    encode_chunk = 1024  # texts featurized together, then sorted by token count into batches (batching.py)

    def __init__(self, encoder: Any, vocab: Vocab, energy: Energy | str = Energy.cosine,
                 calibration: Calibration | None = None, threshold: float = 0.5,
                 tokenizer_config: TokenizerConfig | None = None, meta: dict[str, Any] | None = None,
                 threads: int = 1) -> None:
        if hasattr(encoder, "state_dict"):  # a torch module: the training side's live tower
            from siamese_text.model.torch_backend import TorchBackend

            encoder = TorchBackend(encoder, threads=threads)
        if encoder.config.vocab_size != len(vocab):
            raise ValueError(f"encoder expects {encoder.config.vocab_size} tokens, vocabulary has {len(vocab)}")
        self.encoder = encoder
        self.vocab = vocab
        self.energy = Energy(energy)
        self.calibration = calibration or Calibration()
        self.threshold = float(threshold)
        self.tokenizer = Tokenizer(tokenizer_config)
        self.featurizer = Featurizer(self.tokenizer, vocab, encoder.config)  # all n-grams: what training eats
        if encoder.config.subword_buckets and hasattr(encoder, "know_words"):
            encoder.know_words(vocab.itos)  # known words' n-gram means from a table, computed once
        self._encode_features = Featurizer(self.tokenizer, vocab, encoder.config,
                                           unknown_only=bool(getattr(encoder, "knows_words", False)))
        self.meta = dict(meta or {})
        self.threads = threads

    # ----- what the model is -----------------------------------------------------------------

    @property
    def encoder_config(self) -> EncoderConfig:
        """Sizes and switches of the tower."""
        return self.encoder.config

    @property
    def dim(self) -> int:
        """Length of the vectors `encode` returns."""
        return self.encoder.config.dim

    @property
    def backend(self) -> str:
        """"numpy", "torch", "int8", "onnx" or "onnx-int8": what runs the forward pass (see backend_reason)."""
        if isinstance(self.encoder, NumpyEncoder):
            return "numpy"
        if hasattr(self.encoder, "session"):  # an onnx_backend.OnnxEncoder ("numpy" when it fell back)
            return self.encoder.backend
        return "int8" if getattr(self.encoder, "int8", False) else "torch"

    @property
    def weights(self) -> dict[str, np.ndarray]:
        """The tower's float32 weights under torch's state-dict names."""
        return self.encoder.weights

    @property
    def spec(self) -> ModelSpec:
        """Everything config.json records about this model."""
        return ModelSpec(self.encoder_config, self.tokenizer.config, self.energy, self.calibration,
                         self.threshold, self.meta)

    # ----- inference -------------------------------------------------------------------------

    def encode(self, texts: Sequence[str], batch_size: int | None = None, features=None) -> np.ndarray:
        """Embed texts, in batches of similar length (less padding).

        Args:
            texts: the texts (an empty text gives a zero vector).
            batch_size: texts per forward pass (default 128).
            features: `self.featurizer(texts)` when the caller already has it.
        Returns:
            (N, D) float32 array, rows in the order of `texts`.
        """
        if isinstance(texts, str):
            raise TypeError("encode takes a list of texts; wrap a single text in a list")
        texts = list(texts) if features is None else None
        count = len(texts) if features is None else len(features)
        batch_size = batch_size or self.batch_size
        out = np.zeros((count, self.dim), dtype=np.float32)
        plan = BatchPlan(self.encoder, self._encode_features, texts, features, out, batch_size,
                         self.encode_chunk, bool(self.encoder_config.subword_buckets))
        workers = self.threads if self.backend in ("numpy", "onnx", "onnx-int8") else 1
        with self._blas_threads(count):
            if workers > 1 and count > batch_size:
                plan.work(workers)
            else:
                plan.run_all()
        return out

    def energies_from_vectors(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Row-wise energy between two (N, D) arrays of embeddings -> (N,)."""
        return rowwise_energy(a, b, self.energy)

    def energies(self, texts_a: Sequence[str], texts_b: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        """Energy of each pair (texts_a[i], texts_b[i]); lower = more alike. -> (N,)"""
        if len(texts_a) != len(texts_b):
            raise ValueError("texts_a and texts_b must have the same length")
        vecs = self.encode(list(texts_a) + list(texts_b), batch_size=batch_size)
        return self.energies_from_vectors(vecs[: len(texts_a)], vecs[len(texts_a) :])

    def probabilities(self, texts_a: Sequence[str], texts_b: Sequence[str],
                      batch_size: int | None = None) -> np.ndarray:
        """Calibrated probability that each pair means the same. -> (N,) in [0, 1]

        Raises UncalibratedModel (as do similarity, predict, is_paraphrase, similarity_matrix and
        most_similar) when the calibration was never fitted; encode and energies still work.
        """
        calibration = self.calibration.require_fitted()  # before encoding anything
        return calibration(self.energies(texts_a, texts_b, batch_size))

    def similarity(self, a: str, b: str) -> float:
        """Calibrated probability in [0, 1] that texts a and b mean the same thing."""
        return float(self.probabilities([a], [b])[0])

    def predict(self, texts_a: Sequence[str], texts_b: Sequence[str]) -> np.ndarray:
        """Verdict of each pair at the stored threshold. -> (N,) bool"""
        return self.probabilities(texts_a, texts_b) >= self.threshold

    def is_paraphrase(self, a: str, b: str) -> bool:
        """True when the probability that a and b mean the same reaches the stored threshold."""
        return self.similarity(a, b) >= self.threshold

    def similarity_matrix(self, texts_a: Sequence[str], texts_b: Sequence[str]) -> np.ndarray:
        """Probability for every (texts_a[i], texts_b[j]). -> (len(texts_a), len(texts_b))"""
        calibration = self.calibration.require_fitted()
        ea, eb = self.encode(list(texts_a)), self.encode(list(texts_b))
        return calibration(pairwise_energy(ea, eb, self.energy))

    def most_similar(self, query: str, candidates: Sequence[str], k: int = 1,
                     candidate_vectors: np.ndarray | None = None) -> list[Match]:
        """The k candidates most likely to mean the same as `query`, best first.

        One-shot matching: each candidate stands for a class (an FAQ entry, an intent), so a
        new class is one new text, with no retraining.

        Args:
            query: the text to match.
            candidates: the texts to choose from.
            k: how many to return (fewer when there are fewer candidates).
            candidate_vectors: `encode(candidates)`, to skip re-encoding a fixed list. (M, D)
        Returns:
            Match records, highest probability first; ties keep the candidates' order.
        """
        if not isinstance(query, str):
            raise TypeError(f"query must be a str, got {type(query).__name__}")
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        self.calibration.require_fitted()
        candidates = list(candidates)
        if not candidates:
            return []
        vecs = self.encode(candidates) if candidate_vectors is None else np.asarray(candidate_vectors, np.float32)
        if vecs.shape != (len(candidates), self.dim):
            raise ValueError(f"candidate_vectors has shape {vecs.shape}, expected {(len(candidates), self.dim)}")
        e = pairwise_energy(self.encode([query]), vecs, self.energy)[0]  # (M,)
        probs = self.calibration(e)
        order = np.argsort(e, kind="stable")[:k]  # lowest energy = most alike
        return [Match(candidates[i], int(i), float(probs[i]), bool(probs[i] >= self.threshold)) for i in order]

    # ----- backends --------------------------------------------------------------------------

    def with_backend(self, backend: str | None = "numpy", threads: int | None = None,
                     source: Path | None = None, int8: bool = False) -> "SiameseModel":
        """The same model (shared vocabulary and settings) running on another backend.

        Args:
            backend: "numpy" (no torch), "torch" or "int8" (torch dynamic quantization of the
                LSTM and Linear layers; inference only, cannot be saved; the `train` extra).
                "onnx" / "onnx-int8" run the LSTM in ONNX Runtime (the `onnx` extra, a one-line
                MissingExtra without it; see model/onnx_backend.py): the network from `source`,
                else exported now with torch, else NumPy, and `card()` says why. None: the
                default, ONNX Runtime when it is installed and `source` carries the network (never
                exported on the fly), else NumPy.
            threads: threads while encoding (default: this model's).
            source: the model folder the weights came from, where "onnx" backends find (and
                cache) the exported network.
            int8: the int8 twin of `backend` ("onnx-int8" for None or "onnx", "int8" for "torch").
        """
        threads = self.threads if threads is None else threads
        backend, encoder = build_encoder(self.encoder, self.encoder_config, self.weights, backend, threads,
                                         source, int8)
        meta = {**self.meta, "quantized": "int8-dynamic"} if backend == "int8" else dict(self.meta)
        return SiameseModel(encoder, self.vocab, self.energy, self.calibration, self.threshold,
                            self.tokenizer.config, meta, threads=threads)

    def on_threads(self, threads: int) -> "SiameseModel":
        """The same model on the same backend (a copy of its encoder) encoding on `threads` threads:
        what a dedup/embed worker process runs (one thread each)."""
        import copy

        encoder = self.encoder
        if hasattr(encoder, "session"):  # an OnnxEncoder: `threads` sessions; the copy opens its own
            encoder = copy.copy(encoder)
            encoder.threads = threads
        return SiameseModel(encoder, self.vocab, self.energy, self.calibration, self.threshold,
                            self.tokenizer.config, self.meta, threads=threads)

    def quantized(self) -> "SiameseModel":
        """A copy whose LSTM and Linear layers run in int8 (`with_backend("int8")`)."""
        return self.with_backend("int8")

    def _blas_threads(self, count: int | None = None):
        """See backends.blas_threads."""
        return blas_threads(self, count)

    def card(self) -> list[tuple[str, str]]:
        """What the model is, what it learnt from and how well it did: (field, text) rows, for `info`."""
        from siamese_text.model.card import card_rows

        return card_rows(self)

    def backend_reason(self) -> str:
        """What runs the forward pass and, when it is not what was asked for, why:
        "onnx", "numpy (onnxruntime not installed)", "numpy (requested onnx: ...)"."""
        if hasattr(self.encoder, "open"):
            self.encoder.open()  # a lazy ONNX session: check the network before naming it
        note = getattr(self.encoder, "note", "")
        threads = f", {self.threads} thread{'s' if self.threads != 1 else ''}" if self.threads else ""
        return f"{self.backend}{threads}" + (f" ({note})" if note else "")

    # ----- persistence -----------------------------------------------------------------------

    def config_dict(self) -> dict[str, Any]:
        """Everything config.json holds."""
        torch = sys.modules.get("torch")
        versions = {"torch": torch.__version__.split("+")[0]} if torch is not None else {}
        return folder.config_dict(self.spec, versions)

    def save(self, path: str | Path, dtype: Any = "float32", network: bool = False) -> Path:
        """Write config.json, model.safetensors and vocab.txt into folder `path`, atomically.

        An existing folder at `path` is replaced only once the new one is complete.

        Args:
            dtype: "float16" (or torch.float16) halves the folder's size; loading restores float32.
            network: also write encoder.onnx, the network exported for ONNX Runtime (what `load()`
                runs by default), when torch and onnx are installed to export it; without them the
                folder is written without it and loads on the NumPy path (`info` says why). What
                `train` and `distill` do.
        """
        if self.meta.get("quantized"):
            raise ArgumentError("an int8-quantized model cannot be saved; save the float model instead")
        dtype = str(dtype).removeprefix("torch.")
        exported = None
        if network:
            from siamese_text.model.onnx_export import exported_or_none

            exported = exported_or_none(self.encoder_config, self.weights, dtype)
        return folder.write_folder(path, self.config_dict(), self.weights, self.vocab.save, dtype=dtype,
                                   network=exported)

    @classmethod
    def load(cls, path: str | Path | None = None, backend: str | None = None, threads: int | None = None,
             int8: bool = False) -> "SiameseModel":
        """Load a model folder; with no path, the bundled default model.

        Args:
            path: a folder written by `save`.
            backend: None (default): ONNX Runtime when onnxruntime is installed and the folder
                carries the exported network (encoder.onnx; the bundled model does), else NumPy;
                `card()` says which and why. Or "numpy" (the reference path), "onnx" / "onnx-int8"
                (the `onnx` extra; the folder's network, else exported with torch), "torch" /
                "int8" (the `train` extra).
            threads: threads while encoding (default: the CPUs this process may use).
            int8: run the int8-quantized network ("onnx-int8", or torch's "int8" with backend="torch").
        Raises:
            ModelFolderError: a missing, truncated or mismatched file, named in the message.
        """
        if backend is not None and backend not in BACKENDS:
            raise ArgumentError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
        threads = available_cpus() if threads is None else threads
        path = folder.check_folder(Path(path) if path is not None else DEFAULT_MODEL_DIR)
        spec = folder.read_spec(path)
        try:
            vocab = Vocab.load(path / folder.VOCAB_FILE)
        except InputFileError as exc:  # a file of the model folder: a ModelFolderError, same message
            raise folder.ModelFolderError(str(exc)) from None
        if len(vocab) != spec.encoder.vocab_size:
            raise folder.ModelFolderError(f"{path / folder.VOCAB_FILE}: {len(vocab)} tokens, but config.json "
                                          f"says {spec.encoder.vocab_size}")
        weights = folder.read_weights(path / folder.WEIGHTS_FILE, folder.expected_shapes(spec.encoder))
        folder.verify_checksums(path, vocab.itos)  # last: a malformed file is named for what is wrong first
        model = cls(NumpyEncoder(spec.encoder, weights), vocab, spec.energy, spec.calibration, spec.threshold,
                    spec.tokenizer, spec.meta, threads=threads)
        return model if backend == "numpy" and not int8 else model.with_backend(backend, source=path, int8=int8)
