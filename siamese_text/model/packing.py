"""A model folder as an in-memory dict of file contents: for pickling and spaCy's to_bytes.

The dict holds exactly what `SiameseModel.save` writes (config.json, model.safetensors,
vocab.txt), so unpacking goes through `SiameseModel.load` and its checks, and nothing is pickled.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from siamese_text.model.folder import MODEL_FILES

if TYPE_CHECKING:  # pragma: no cover
    from siamese_text.model.siamese import SiameseModel


def pack_model(model: SiameseModel) -> dict[str, bytes]:
    """{file name: contents} of the folder `model.save` writes."""
    with tempfile.TemporaryDirectory() as tmp:
        model.save(tmp)
        return {name: (Path(tmp) / name).read_bytes() for name in MODEL_FILES}


def unpack_model(files: dict[str, bytes]) -> SiameseModel:
    """The model that `pack_model` packed; only the known file names are ever written."""
    from siamese_text.model.siamese import SiameseModel

    with tempfile.TemporaryDirectory() as tmp:
        for name in MODEL_FILES:
            if name in files:  # a missing one is reported by load, naming the file
                (Path(tmp) / name).write_bytes(files[name])
        return SiameseModel.load(tmp)
