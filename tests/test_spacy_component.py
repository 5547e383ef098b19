"""spaCy as the client: the "siamese_similarity" factory, Doc/Span hooks, nlp.pipe, to_disk/spacy.load."""

import random
import shutil
import subprocess
import sys

import numpy as np
import pytest
import spacy
from spacy.training import Example

from siamese_text.errors import SiameseTextError
from siamese_text.integrations.spacy_pipe import VECTOR_KEY

from conftest import make_tiny_model

Q = "How do I learn Python?"
PARAPHRASE = "What is the best way to learn Python?"
UNRELATED = "How do I bake bread at home?"


@pytest.fixture(scope="module")
def nlp_bundled():
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    nlp.add_pipe("siamese_similarity")  # model: null = the bundled model
    return nlp


@pytest.fixture
def tiny_dir(tmp_path):
    return make_tiny_model(seed=3).save(tmp_path / "tiny_model")


def test_entry_point_registers_the_factory_without_loading_the_model():
    # A fresh interpreter that never imports siamese_text itself: spaCy finds us by entry point.
    code = ("import sys, spacy; nlp = spacy.blank('en'); "
            "print(nlp.has_factory('siamese_similarity'), "
            "'siamese_text.integrations.spacy_pipe' in sys.modules, 'siamese_text.model.siamese' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "True", "False"], out.stdout + out.stderr


def test_doc_similarity_is_our_calibrated_probability(nlp_bundled, bundled_model):
    q, para, other = nlp_bundled(Q), nlp_bundled(PARAPHRASE), nlp_bundled(UNRELATED)
    assert q.similarity(para) > q.similarity(other)
    assert q.similarity(para) == pytest.approx(bundled_model.similarity(Q, PARAPHRASE), abs=1e-6)
    assert q.similarity(other) == pytest.approx(bundled_model.similarity(Q, UNRELATED), abs=1e-6)
    assert q.similarity(para) == pytest.approx(para.similarity(q), abs=1e-9)  # symmetric
    # a Doc made by another pipeline (no hooks, no stored vector) is encoded on the fly
    assert q.similarity(spacy.blank("en")(PARAPHRASE)) == pytest.approx(q.similarity(para), abs=1e-6)


def test_doc_and_span_vectors_are_our_embeddings(nlp_bundled, bundled_model):
    doc = nlp_bundled(f"{Q} {UNRELATED}")
    assert doc.has_vector
    np.testing.assert_allclose(doc.vector, bundled_model.encode([doc.text])[0], atol=1e-5)
    first, second = list(doc.sents)
    assert first.has_vector and first.vector.shape == (bundled_model.dim,)
    np.testing.assert_allclose(first.vector, bundled_model.encode([first.text])[0], atol=1e-5)
    # Span.similarity goes through the span hook, against a Doc and against another Span
    para = nlp_bundled(PARAPHRASE)
    assert first.similarity(para) > second.similarity(para)
    assert first.similarity(para) == pytest.approx(bundled_model.similarity(first.text, PARAPHRASE), abs=1e-6)
    assert 0.0 <= first.similarity(second) <= 1.0


def test_pipe_batches_forward_passes(tiny_dir):
    nlp = spacy.blank("en")
    component = nlp.add_pipe("siamese_similarity", config={"model": str(tiny_dir), "batch_size": 7})
    model = component.siamese_model
    sizes = []
    original = model.encode

    def counting_encode(texts, *args, **kwargs):
        sizes.append(len(texts))
        return original(texts, *args, **kwargs)

    model.encode = counting_encode
    texts = [f"text number {i}" for i in range(5)]
    docs = list(nlp.pipe(texts, batch_size=2))
    assert sizes == [2, 2, 1]  # one forward pass per batch, as nlp.pipe asked
    sizes.clear()
    list(component.pipe(nlp.make_doc(t) for t in texts))
    assert sizes == [5]  # the component's own default batch_size (7) when pipe does not say
    one_by_one = np.stack([original([t])[0] for t in texts])
    np.testing.assert_allclose(np.stack([d.vector for d in docs]), one_by_one, atol=1e-5)


def test_to_disk_then_spacy_load_keeps_the_model_after_its_folder_is_gone(tmp_path, tiny_dir):
    nlp = spacy.blank("en")
    nlp.add_pipe("siamese_similarity", config={"model": str(tiny_dir)})
    before = nlp("how do i learn python").similarity(nlp("learn python"))
    vector = nlp("bake bread").vector
    nlp.to_disk(tmp_path / "pipeline")
    assert sorted(p.name for p in (tmp_path / "pipeline" / "siamese_similarity").iterdir()) == \
        ["config.json", "model.safetensors", "vocab.txt"]
    shutil.rmtree(tiny_dir)  # the folder named in the pipeline's config no longer exists
    loaded = spacy.load(tmp_path / "pipeline")
    assert loaded.get_pipe_config("siamese_similarity")["model"] == str(tiny_dir)
    after = loaded("how do i learn python").similarity(loaded("learn python"))
    assert after == pytest.approx(before, abs=1e-6)
    np.testing.assert_allclose(loaded("bake bread").vector, vector, atol=1e-6)


def test_to_bytes_round_trip(tiny_dir):
    nlp = spacy.blank("en")
    nlp.add_pipe("siamese_similarity", config={"model": str(tiny_dir)})
    data = nlp.to_bytes()
    other = spacy.blank("en")
    other.add_pipe("siamese_similarity", config={"model": "/no/such/folder"})
    other.from_bytes(data)
    assert other("learn python").similarity(other("bake bread")) == \
        pytest.approx(nlp("learn python").similarity(nlp("bake bread")), abs=1e-6)


def test_a_bad_model_folder_is_a_clear_error(tmp_path):
    nlp = spacy.blank("en")
    nlp.add_pipe("siamese_similarity", config={"model": str(tmp_path / "missing")})
    with pytest.raises(SiameseTextError, match="model folder not found"):
        nlp.initialize()
    with pytest.raises(SiameseTextError, match="model folder not found"):
        nlp("some text")


# ----- a full pipeline: trainable spaCy components next to ours --------------------------------

TRAIN = [
    ("How do I learn Python in Paris?", {"tags": ["ADV", "AUX", "PRON", "VERB", "PROPN", "ADP", "PROPN", "PUNCT"],
                                         "heads": [3, 3, 3, 3, 3, 3, 5, 3],
                                         "deps": ["advmod", "aux", "nsubj", "ROOT", "dobj", "prep", "pobj", "punct"],
                                         "entities": [(25, 30, "GPE")]}),
    ("Where can I buy bread in London?", {"tags": ["ADV", "AUX", "PRON", "VERB", "NOUN", "ADP", "PROPN", "PUNCT"],
                                          "heads": [3, 3, 3, 3, 3, 3, 5, 3],
                                          "deps": ["advmod", "aux", "nsubj", "ROOT", "dobj", "prep", "pobj", "punct"],
                                          "entities": [(25, 31, "GPE")]}),
]


@pytest.mark.slow
def test_full_pipeline_with_trained_components_and_ours(tmp_path, bundled_model):
    # No packaged spaCy model can be downloaded here, so we build the pipeline ourselves:
    # tok2vec + tagger + parser + ner, trained for a few steps on hand-annotated sentences.
    nlp = spacy.blank("en")
    nlp.add_pipe("tok2vec")
    nlp.add_pipe("tagger")
    nlp.add_pipe("parser", config={"min_action_freq": 1})  # keep labels seen only twice
    nlp.add_pipe("ner")
    nlp.add_pipe("siamese_similarity")
    examples = [Example.from_dict(nlp.make_doc(text), ann) for text, ann in TRAIN]
    optimizer = nlp.initialize(get_examples=lambda: examples)
    random.seed(0)
    for _ in range(15):
        nlp.update(examples, sgd=optimizer, drop=0.0)
    assert nlp.pipe_names == ["tok2vec", "tagger", "parser", "ner", "siamese_similarity"]

    doc = nlp("How do I learn Python in Paris?")
    assert [t.tag_ for t in doc] == TRAIN[0][1]["tags"]  # the other components really ran
    assert doc.has_annotation("DEP") and [e.text for e in doc.ents] == ["Paris"]
    assert doc.similarity(nlp(PARAPHRASE)) > doc.similarity(nlp(UNRELATED))
    assert doc.similarity(nlp(PARAPHRASE)) == pytest.approx(
        bundled_model.similarity(doc.text, PARAPHRASE), abs=1e-6)
    sent = next(iter(doc.sents))
    assert sent.similarity(nlp(PARAPHRASE)) == pytest.approx(
        bundled_model.similarity(sent.text, PARAPHRASE), abs=1e-6)

    nlp.to_disk(tmp_path / "full")
    loaded = spacy.load(tmp_path / "full")
    again = loaded("How do I learn Python in Paris?")
    assert [t.tag_ for t in again] == [t.tag_ for t in doc]
    assert again.similarity(loaded(PARAPHRASE)) == pytest.approx(doc.similarity(nlp(PARAPHRASE)), abs=1e-6)
    assert VECTOR_KEY in again.user_data


def test_component_accepts_a_loaded_model_directly(tiny_model):
    from siamese_text.integrations.spacy_pipe import SiameseSimilarity

    component = SiameseSimilarity(model=tiny_model)
    nlp = spacy.blank("en")
    a, b = component(nlp.make_doc("learn python")), component(nlp.make_doc("bake bread"))
    assert component.siamese_model is tiny_model
    assert a.similarity(b) == pytest.approx(tiny_model.similarity("learn python", "bake bread"), abs=1e-6)


def test_spacy_protocol_probes_do_not_load_the_model(tmp_path):
    """spaCy checks components against runtime protocols (hasattr on each of their attributes, in
    an order that changes with the hash seed) when it assembles a pipeline: that must not load."""
    from spacy import ty

    from siamese_text.integrations.spacy_pipe import SiameseSimilarity

    component = SiameseSimilarity(model=str(tmp_path / "no_such_model"))
    for protocol in (ty.ListenedToComponent, ty.TrainableComponent, ty.InitializableComponent):
        isinstance(component, protocol)  # would raise "model folder not found" if it loaded
    assert component._model is None
    assert not hasattr(component, "model")
