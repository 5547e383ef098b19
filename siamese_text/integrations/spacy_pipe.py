"""spaCy pipeline component "siamese_similarity": Doc and Span similarity and vectors from our model.

    nlp = spacy.blank("en")
    nlp.add_pipe("siamese_similarity")                                # the bundled model
    nlp.add_pipe("siamese_similarity", config={"model": "my_model"})  # a model folder

After the component has run, `doc1.similarity(doc2)` and `span.similarity(other)` return our
calibrated probability that the two texts mean the same, and `doc.vector` / `span.vector` are
our embeddings. All of it goes through spaCy's documented `user_hooks`; tokens are left alone.

spaCy imports this module through the `spacy_factories` entry point whenever it builds any
pipeline, so the module itself imports only spaCy: torch and the model are loaded when the
component first needs them. `nlp.to_disk` writes the model folder into the pipeline, and
`spacy.load` reads it back from there (the folder named in the config is no longer needed).
"""

# No `from __future__ import annotations`: spaCy validates the factory's config against its
# real (evaluated) type hints.
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Optional, Union

import numpy as np

from siamese_text.extras import require

require("spacy", "spacy")  # without spaCy: one line naming `pip install 'siamese-text[spacy]'`
import srsly  # noqa: E402 - spaCy's own dependency
from spacy.language import Language  # noqa: E402
from spacy.tokens import Doc, Span  # noqa: E402
from spacy.util import minibatch  # noqa: E402

if TYPE_CHECKING:  # pragma: no cover
    from siamese_text.model.siamese import SiameseModel

VECTOR_KEY = "siamese_text.vector"  # doc.user_data key of the Doc's embedding, (D,) float32


@Language.factory("siamese_similarity", default_config={"model": None, "batch_size": 64})
def make_siamese_similarity(nlp: Language, name: str, model: Optional[str], batch_size: int) -> "SiameseSimilarity":
    """Factory registered as "siamese_similarity".

    Args:
        model: a model folder; null (None) means the bundled model.
        batch_size: texts per forward pass when `nlp.pipe` does not say.
    """
    return SiameseSimilarity(name, model, batch_size)


class SiameseSimilarity:
    """Sets Doc and Span similarity/vector hooks that answer with a SiameseModel.

    Args:
        name: the component's name in the pipeline.
        model: a model folder, None for the bundled model, or a loaded SiameseModel.
        batch_size: texts per forward pass by default.
    """

    def __init__(self, name: str = "siamese_similarity", model: Union[str, Path, "SiameseModel", None] = None,
                 batch_size: int = 64) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.name = name
        self.batch_size = batch_size
        is_folder = model is None or isinstance(model, (str, Path))  # (a str has .encode too)
        self._source = str(model) if is_folder and model is not None else None
        self._model = None if is_folder else model

    @property
    def siamese_model(self) -> "SiameseModel":
        """The SiameseModel, loaded on first use.

        Not called `model`: spaCy probes every component for a `model` attribute (its
        ListenedToComponent protocol check, when a pipeline is assembled), and a property of that
        name would load the model there, eagerly, from a folder that may no longer exist.
        """
        if self._model is None:
            from siamese_text.model.siamese import SiameseModel

            self._model = SiameseModel.load(self._source)
        return self._model

    def initialize(self, get_examples: Optional[Callable] = None, *, nlp: Optional[Language] = None) -> None:
        """Called by `nlp.initialize()`: load the model now, so a bad folder fails early."""
        self.siamese_model  # noqa: B018 (loads)

    # ----- processing ------------------------------------------------------------------------

    def __call__(self, doc: Doc) -> Doc:
        return self._annotate([doc])[0]

    def pipe(self, docs: Iterable[Doc], batch_size: Optional[int] = None) -> Iterator[Doc]:
        """Annotate docs in batches of `batch_size` texts (one forward pass each)."""
        for batch in minibatch(docs, size=batch_size or self.batch_size):
            yield from self._annotate(list(batch))

    def _annotate(self, docs: list) -> list:
        vectors = self.siamese_model.encode([doc.text for doc in docs], batch_size=max(len(docs), 1))  # (B, D)
        for doc, vector in zip(docs, vectors):
            doc.user_data[VECTOR_KEY] = vector
            doc.user_hooks["vector"] = self.vector
            doc.user_hooks["has_vector"] = _true
            doc.user_hooks["similarity"] = self.similarity
            doc.user_span_hooks["vector"] = self.vector
            doc.user_span_hooks["has_vector"] = _true
            doc.user_span_hooks["similarity"] = self.similarity
        return docs

    # ----- the hooks -------------------------------------------------------------------------

    def vector(self, obj: Any) -> np.ndarray:
        """Our embedding of a Doc (stored when the component ran), Span or any object with .text. (D,)"""
        if isinstance(obj, Doc) and VECTOR_KEY in obj.user_data:
            return obj.user_data[VECTOR_KEY]
        if isinstance(obj, Span) and obj.start == 0 and obj.end == len(obj.doc) and VECTOR_KEY in obj.doc.user_data:
            return obj.doc.user_data[VECTOR_KEY]  # the whole doc
        return self.siamese_model.encode([obj.text])[0]

    def similarity(self, obj: Any, other: Any) -> float:
        """Calibrated probability in [0, 1] that obj and other (Doc, Span, Token...) mean the same."""
        a, b = self.vector(obj), self.vector(other)
        energy = self.siamese_model.energies_from_vectors(a[None, :], b[None, :])  # (1,)
        return float(self.siamese_model.calibration(energy)[0])

    # ----- serialisation: the model folder travels with the pipeline -------------------------

    def to_disk(self, path: Union[str, Path], *, exclude: Iterable[str] = ()) -> None:
        """Write the model folder (config.json, model.safetensors, vocab.txt) into `path`."""
        self.siamese_model.save(path)

    def from_disk(self, path: Union[str, Path], *, exclude: Iterable[str] = ()) -> "SiameseSimilarity":
        """Load the model folder that `to_disk` wrote."""
        from siamese_text.model.siamese import SiameseModel

        self._model = SiameseModel.load(path)
        return self

    def to_bytes(self, *, exclude: Iterable[str] = ()) -> bytes:
        """The model folder's files, packed with msgpack."""
        from siamese_text.model.packing import pack_model

        return srsly.msgpack_dumps(pack_model(self.siamese_model))

    def from_bytes(self, data: bytes, *, exclude: Iterable[str] = ()) -> "SiameseSimilarity":
        """Load a model from what `to_bytes` returned."""
        from siamese_text.model.packing import unpack_model

        self._model = unpack_model(srsly.msgpack_loads(data))
        return self


def _true(obj: Any) -> bool:
    return True
