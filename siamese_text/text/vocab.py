"""Vocab: token <-> id, plus hashed character n-grams for words the vocabulary lacks.

Ids are deterministic: `<pad>` = 0, `<unk>` = 1, then tokens by frequency (descending), ties
broken alphabetically. Saved as `vocab.txt`, one token a line, line number = id.
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from siamese_text.errors import InputFileError

PAD, UNK = "<pad>", "<unk>"
_MAX_GRAM_WORD = 40


class Vocab:
    """A fixed mapping between tokens and integer ids.

    Args:
        tokens: the vocabulary in id order; must start with `<pad>`, `<unk>`.
    """

    def __init__(self, tokens: list[str]) -> None:
        if tokens[:2] != [PAD, UNK]:
            raise ValueError("a vocabulary starts with <pad>, <unk>")
        if len(set(tokens)) != len(tokens):
            seen: set[str] = set()
            twice = next(t for t in tokens if t in seen or seen.add(t))
            raise ValueError(f"a vocabulary holds each token once; {twice[:40]!r} is there twice")
        self.itos = list(tokens)
        self.stoi = {t: i for i, t in enumerate(self.itos)}

    pad_id = 0
    unk_id = 1

    @classmethod
    def build(cls, token_lists: Iterable[list[str]], min_freq: int = 1, max_size: int | None = None) -> "Vocab":
        """Count tokens and keep those seen at least `min_freq` times, at most `max_size` in all.

        Returns:
            A Vocab whose size (with `<pad>` and `<unk>`) is at most `max_size`.
        """
        counts: Counter[str] = Counter()
        for tokens in token_lists:
            counts.update(tokens)
        counts.pop(PAD, None)
        counts.pop(UNK, None)
        kept = sorted((t for t, c in counts.items() if c >= min_freq), key=lambda t: (-counts[t], t))
        if max_size is not None:
            kept = kept[: max(0, max_size - 2)]
        return cls([PAD, UNK, *kept])

    def extended(self, words: Iterable[str], max_size: int | None = None) -> "Vocab":
        """This vocabulary followed by the `words` it lacks (in their order), at most `max_size` in all."""
        known = set(self.itos)
        new = [w for w in dict.fromkeys(words) if w not in known and w]
        tokens = self.itos + new
        return Vocab(tokens[: max(len(self.itos), max_size)] if max_size is not None else tokens)

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: str) -> bool:
        return token in self.stoi

    def encode(self, tokens: list[str]) -> list[int]:
        """Token strings -> ids; unknown tokens map to `<unk>` (1)."""
        get = self.stoi.get
        return [get(t, 1) for t in tokens]

    def save(self, path: str | Path) -> None:
        """Write one token a line (line number = id)."""
        if any("\n" in t or "\r" in t for t in self.itos):
            raise ValueError("a token holds a line break and cannot be saved in vocab.txt")
        Path(path).write_text("\n".join(self.itos) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> "Vocab":
        """Read a `vocab.txt` written by `save`; a malformed file raises SiameseTextError."""
        path = Path(path)
        try:
            lines = path.read_bytes().decode("utf-8").removeprefix("\ufeff").split("\n")  # a BOM: an editor's
        except FileNotFoundError:
            raise InputFileError(f"{path}: file is missing") from None
        except UnicodeDecodeError as exc:
            raise InputFileError(f"{path}: not valid UTF-8 (byte {exc.start + 1})") from None
        except OSError as exc:
            raise InputFileError(f"{path}: cannot be read ({exc.strerror or exc})") from None
        except MemoryError:
            raise InputFileError(f"{path}: too large to be a vocabulary") from None
        if lines and lines[-1] == "":
            lines.pop()
        lines = [line.removesuffix("\r") for line in lines]  # CRLF endings (a checkout with autocrlf)
        try:
            return cls(lines)
        except ValueError as exc:
            raise InputFileError(f"{path}: malformed vocabulary ({exc})") from None


@lru_cache(maxsize=200_000)
def subword_ids(token: str, n_min: int, n_max: int, buckets: int) -> tuple[int, ...]:
    """Hashed character n-grams of `<token>` (fastText style), as bucket ids in [0, buckets).

    crc32 is used rather than Python's `hash`, which changes from one process to the next.
    """
    word = f"<{token[:_MAX_GRAM_WORD]}>"  # a 10 MB "word" must not make millions of n-grams
    n_max = min(n_max, len(word))  # longer n-grams do not exist (and a huge n_max must not loop)
    grams = {word[i : i + n] for n in range(n_min, n_max + 1) for i in range(len(word) - n + 1)}
    # surrogatepass: a str may hold a lone surrogate (from surrogateescape); it must not crash hashing
    return tuple(sorted(zlib.crc32(g.encode("utf-8", "surrogatepass")) % buckets for g in grams))
