"""The fast tokenizer must split exactly as spacy.blank("en") does (training and scoring see the
same tokens), and must not import spaCy."""

from __future__ import annotations

import importlib.util
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from siamese_text.text.english_rules import RULES_FILE, FastEnglishTokenizer
from siamese_text.text.tokenizer import Tokenizer, normalize

from conftest import require_data

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"

EDGE_CASES = [
    "How do I learn Python?",
    "Visit https://www.example.com/path?q=1&r=two#frag, or http://foo.bar.",
    "www.google.com is a site; so is google.co.uk!",
    "mail me at john.doe+tag@example.org (or jdoe@ex.com).",
    "I don't, can't, won't and shouldn't've; y'all ain't gonna.",
    "It's 5 o'clock... ISN'T IT?!",
    "emoji 😀👍🏽 and ❤️ test :) :-) (: <3 :P ;)",
    "She paid $5.50, €10 or £3 for 10,000 items (3.5% off) at 5pm / 17:30.",
    "1990s-era 3x4 2nd 5km 10kg 1.5e-3 -4 +7 #1 @user",
    "Wow!!! Really??? ...and then --- nothing.",
    "\"Quoted\" 'single' “curly” ‘quotes’ «guillemets»",
    "U.S.A. e.g. i.e. a.m. p.m. Mr. Dr. St. etc. vs. Jan. Feb.",
    "well-known self-esteem x/y a&b c+d e=f",
    "(parenthesised) [bracketed] {braced} <angled>",
    "tab\tand  double  space and\nnewline and\xa0nbsp",
    "  leading and trailing spaces  ",
    "odd\x1cwhite\u2028space\u3000here\u200bzero\x85nel \n\t mixed  \n",
    "",
    " ",
    "a",
    "'s 're 'll n't ’s",
    "C++ C# .NET node.js 9/11 24/7 A+ B-",
    "what's the diff b/w java & c++?",
    "naïve café résumé Straße ﬁancé",
    "1st,2nd,3rd;4th:5th",
    ":(:(:(",
    "Hello.World Hello,World hello!world",
    "https://en.wikipedia.org/wiki/Python_(programming_language)",
]


@pytest.fixture(scope="module")
def spacy_tokenizer():
    spacy = pytest.importorskip("spacy")
    return spacy.blank("en").tokenizer


@pytest.fixture(scope="module")
def fast():
    return FastEnglishTokenizer()


def _reference(tok, text: str) -> list[tuple[str, bool]]:
    return [(t.text, bool(t.whitespace_)) for t in tok(text)]


# spaCy is not pinned (pyproject allows spacy>=3.7,<4): scoring replays the shipped rules file and never
# runs spaCy, so what must hold is that the replay splits text as the installed spaCy does. A spaCy
# release that changes no split passes; one that does fails here, naming the script to re-run.
def _assert_same_tokens(spacy_tokenizer, fast, text: str) -> None:
    reference = _reference(spacy_tokenizer, text)
    if fast.tokens_with_spaces(text) != reference or fast(text) != [w for w, _ in reference if not w.isspace()]:
        pytest.fail(f"the replayed tokenizer rules (exported from spaCy {fast.spacy_version}) split {text!r} into "
                    f"{fast(text)} but the installed spaCy {_spacy_version()} into {[w for w, _ in reference]}: "
                    f"re-run python scripts/export_spacy_rules.py (and retrain if tokens changed)", pytrace=False)


def _spacy_version() -> str:
    import spacy
    return spacy.__version__


def test_a_disagreement_with_spacy_names_the_export_script(fast):
    class OddSpacy:  # a spaCy whose rules changed: it splits "don't" as one token
        def __call__(self, text):
            return [type("T", (), {"text": text, "whitespace_": ""})()]

    pytest.importorskip("spacy")
    with pytest.raises(pytest.fail.Exception, match=r"don't.*re-run python scripts/export_spacy_rules.py"):
        _assert_same_tokens(OddSpacy(), fast, "don't")


def test_rules_file_is_what_the_export_script_writes_from_the_installed_spacy():
    # The rules themselves, beyond the texts tried here: the shipped file must be what
    # scripts/export_spacy_rules.py exports from the installed spaCy (its version aside).
    spacy = pytest.importorskip("spacy")
    spec = importlib.util.spec_from_file_location("export_spacy_rules", ROOT / "scripts" / "export_spacy_rules.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    shipped = json.loads(RULES_FILE.read_text(encoding="utf-8"))
    exported = script.export()
    stale = sorted(k for k in exported.keys() | shipped.keys()
                   if k != "spacy_version" and exported.get(k) != shipped.get(k))
    assert not stale, (f"the tokenizer rules were exported from spaCy {shipped['spacy_version']} and differ from the "
                       f"installed spaCy {spacy.__version__}'s in {stale}: re-run python scripts/export_spacy_rules.py "
                       f"(and retrain if tokens changed)")


@pytest.mark.parametrize("text", EDGE_CASES)
def test_edge_cases_equal_spacy(spacy_tokenizer, fast, text):
    for variant in (text, normalize(text)):
        _assert_same_tokens(spacy_tokenizer, fast, variant)


def test_special_cases_are_used(fast):
    assert fast("don't") == ["do", "n't"]
    assert fast("i can't :)") == ["i", "ca", "n't", ":)"]
    assert fast("a.m. (e.g. this)") == ["a.m.", "(", "e.g.", "this", ")"]


def test_random_mixtures_equal_spacy(spacy_tokenizer, fast):
    pieces = sorted(fast._specials)[::7] + ["http://x.io/a?b=1", "a@b.com", "3.5", "$5", "...", "(", ")",
                                            "'", '"', "-", ":", "😀", "don't", "ab", "1", ".", ",", "/", "’"]
    rng = random.Random(0)
    for _ in range(3000):
        text = "".join(rng.choice(pieces) + rng.choice(["", "", " ", "  "]) for _ in range(rng.randint(1, 6)))
        _assert_same_tokens(spacy_tokenizer, fast, text)


def test_tokenizer_backends_agree():
    texts = [normalize(t) for t in EDGE_CASES]
    assert list(Tokenizer(backend="fast").pipe(texts)) == list(Tokenizer(backend="spacy").pipe(texts))
    with pytest.raises(ValueError):
        Tokenizer(backend="nltk")


def test_fast_backend_does_not_import_spacy_or_torch():
    code = ("import sys; from siamese_text.text.tokenizer import Tokenizer; print(Tokenizer()(\"don't stop\")); "
            "print(sorted(m for m in ('spacy', 'torch', 'thinc') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == ["['do', \"n't\", 'stop']", "[]"]


def _corpus_sentences() -> list[str]:
    files = {  # file -> (encoding, columns holding sentences)
        "qqp/bimpm/dev.tsv": ("utf-8", (1, 2)),
        "sick/SICK.txt": ("utf-8", (1, 2, 7, 8)),
        "stsb/sts-train.csv": ("utf-8", (5, 6)),
        "stsb/sts-dev.csv": ("utf-8", (5, 6)),
        "stsb/sts-test.csv": ("utf-8", (5, 6)),
        "mrpc/msr_paraphrase_train.txt": ("utf-8-sig", (3, 4)),
        "mrpc/msr_paraphrase_test.txt": ("utf-8-sig", (3, 4)),
        "paws_wiki/dev.tsv": ("utf-8", (1, 2)),
        "paws_wiki/test.tsv": ("utf-8", (1, 2)),
    }
    out = set()
    for name, (encoding, cols) in files.items():
        with open(DATA / name, encoding=encoding, newline="") as fh:
            for line in fh:
                fields = line.rstrip("\r\n").split("\t")
                out.update(fields[c] for c in cols if c < len(fields))
    return sorted(out)


@pytest.mark.slow
def test_every_corpus_sentence_equals_spacy(spacy_tokenizer, fast):
    require_data(DATA)
    raw = _corpus_sentences()  # as found (63,243 distinct), and as the model sees them (62,703)
    texts = sorted(set(raw) | {normalize(t) for t in raw})
    assert len(texts) > 100_000
    bad = []
    for t in texts:
        reference = _reference(spacy_tokenizer, t)
        if fast.tokens_with_spaces(t) != reference or fast(t) != [w for w, _ in reference if not w.isspace()]:
            bad.append(t)
    assert bad == [], (f"{len(bad)} of {len(texts)} sentences split differently from the installed spaCy, e.g. "
                       f"{bad[:3]}: re-run python scripts/export_spacy_rules.py")
