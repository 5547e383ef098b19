"""The fast tokenizer must split exactly as spacy.blank("en") does (training and scoring see the
same tokens), and must not import spaCy."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest

from siamese_text.text.english_rules import FastEnglishTokenizer
from siamese_text.text.tokenizer import Tokenizer, normalize

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

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


def test_rules_file_matches_installed_spacy(fast):
    spacy = pytest.importorskip("spacy")
    assert fast.spacy_version == spacy.__version__, "re-run scripts/export_spacy_rules.py after upgrading spaCy"


@pytest.mark.parametrize("text", EDGE_CASES)
def test_edge_cases_equal_spacy(spacy_tokenizer, fast, text):
    for variant in (text, normalize(text)):
        reference = _reference(spacy_tokenizer, variant)
        assert fast.tokens_with_spaces(variant) == reference
        assert fast(variant) == [w for w, _ in reference if not w.isspace()]


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
        reference = _reference(spacy_tokenizer, text)
        assert fast.tokens_with_spaces(text) == reference, repr(text)
        assert fast(text) == [w for w, _ in reference if not w.isspace()], repr(text)


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
@pytest.mark.skipif(not DATA.is_dir(), reason="shared data not available")
def test_every_corpus_sentence_equals_spacy(spacy_tokenizer, fast):
    raw = _corpus_sentences()  # as found (63,243 distinct), and as the model sees them (62,703)
    texts = sorted(set(raw) | {normalize(t) for t in raw})
    assert len(texts) > 100_000
    bad = []
    for t in texts:
        reference = _reference(spacy_tokenizer, t)
        if fast.tokens_with_spaces(t) != reference or fast(t) != [w for w, _ in reference if not w.isspace()]:
            bad.append(t)
    assert bad == [], f"{len(bad)} of {len(texts)} sentences split differently, e.g. {bad[:3]}"
