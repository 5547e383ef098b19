"""spaCy pipeline component "siamese_similarity" (work in progress; see issue 5).

spaCy imports this module whenever it builds a pipeline (the spacy_factories entry point), so
it must stay cheap to import: the model is loaded only when the component is created.
"""

from __future__ import annotations


def make_siamese_similarity(nlp, name: str, model: str | None = None):
    """Factory registered as "siamese_similarity"."""
    raise NotImplementedError("the spaCy component is not built yet")
