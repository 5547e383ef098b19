"""Text -> tokens: Unicode normalisation, lower-casing and spaCy's rule-based English tokenizer.

No stop words are removed: "not" and "never" carry meaning in a paraphrase decision.
By default spaCy's English rules are replayed by fast_tokenizer.py (same tokens as
spacy.blank("en"), checked by tests/test_fast_tokenizer.py) so scoring never imports spaCy;
backend="spacy" runs spaCy itself, imported only when a tokenizer is first used.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

_SPACE_RE = re.compile(r"\s+")


def normalize(text: str) -> str:
    """NFKC-normalise, lower-case and collapse white space.

    CoreNLP escapes (-LRB- ...) are undone by the corpus readers (pairs.undo_corenlp), not here.
    """
    text = unicodedata.normalize("NFKC", text)
    return _SPACE_RE.sub(" ", text).strip().lower()


@dataclass(frozen=True)
class TokenizerConfig:
    """How text becomes tokens; saved in the model folder so scoring splits text as training did."""

    kind: str = "spacy-en"  # spaCy's rule-based English tokenizer (spacy.blank("en"))
    lowercase: bool = True
    max_chars: int = 20_000  # longer texts are cut here before tokenising (bounded time per text)


BACKENDS = ("fast", "spacy")


class Tokenizer:
    """Callable text -> list of token strings.

    Args:
        config: a TokenizerConfig; the default matches the bundled model.
        backend: "fast" (spaCy's rules in pure Python, loads in milliseconds) or "spacy"
            (spaCy itself); both give the same tokens.
    """

    def __init__(self, config: TokenizerConfig | None = None, backend: str = "fast") -> None:
        self.config = config or TokenizerConfig()
        if self.config.kind != "spacy-en":
            raise ValueError(f"unknown tokenizer kind {self.config.kind!r}; expected 'spacy-en'")
        if backend not in BACKENDS:
            raise ValueError(f"unknown tokenizer backend {backend!r}; expected one of {BACKENDS}")
        self.backend = backend
        self._spacy = None

    def _spacy_tokenizer(self):
        """A callable text -> token strings (white-space tokens dropped)."""
        if self._spacy is None:
            if self.backend == "fast":
                self._spacy = _fast_english()
            else:
                from siamese_text.extras import require

                spacy = require("spacy", "spacy", "the spaCy tokenizer backend")  # deferred: about a second

                tok = spacy.blank("en").tokenizer
                self._spacy = lambda text: [t.text for t in tok(text) if not t.is_space]
        return self._spacy

    def _prepare(self, text: str) -> str:
        if not isinstance(text, str):
            raise TypeError(f"expected a str, got {type(text).__name__}")
        text = text[: self.config.max_chars]
        if self.config.lowercase:
            return normalize(text)
        return _SPACE_RE.sub(" ", unicodedata.normalize("NFKC", text)).strip()

    def __call__(self, text: str) -> list[str]:
        """Tokens of one text; an empty or white-space-only text gives []."""
        prepared = self._prepare(text)
        if not prepared:
            return []
        return self._spacy_tokenizer()(prepared)

    def pipe(self, texts: Iterable[str]) -> Iterator[list[str]]:
        """Tokens of many texts, in order."""
        tok = self._spacy_tokenizer()
        for text in texts:
            prepared = self._prepare(text)
            yield tok(prepared) if prepared else []


_FAST = None


def _fast_english():
    """The shared FastEnglishTokenizer (its rules are read once per process)."""
    global _FAST
    if _FAST is None:
        from siamese_text.text.english_rules import FastEnglishTokenizer

        _FAST = FastEnglishTokenizer()
    return _FAST
