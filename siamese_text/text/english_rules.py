"""spaCy's English tokenizer replayed in pure Python, so scoring does not import spaCy (or torch).

spaCy's rules (prefix, suffix and infix regexes, the URL matcher and ~1,300 special cases such as
"don't" -> "do", "n't") are exported once by scripts/export_spacy_rules.py into
spacy_en_rules.json, and `FastEnglishTokenizer` applies them with the same algorithm as spaCy's
Cython `Tokenizer.__call__` (spaCy 3.8):

1. cut the text at white space (a single " " after a word is dropped, other white space
   becomes white-space tokens);
2. per chunk: a special case wins; otherwise strip prefixes and suffixes repeatedly (stopping at
   a special case), then split the middle on infixes unless it is a URL or a special case;
3. re-join token runs that spell a special case which the affix rules had split (":", ")" ->
   ":)"), the longest and earliest match first.

tests/test_fast_tokenizer.py checks that the tokens equal spacy.blank("en")'s on every sentence
of the corpora and on hand-written edge cases.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

RULES_FILE = Path(__file__).resolve().parent / "spacy_en_rules.json"
_RUNS = re.compile(r"\s+|\S+")  # re's \s is str.isspace, the test spaCy uses
_PLAIN = re.compile(r"\S+(?: \S+)*")  # words separated by single spaces (every normalize()d text)


def _compile(entry: dict | None):
    return re.compile(entry["pattern"], entry["flags"]) if entry else None


class FastEnglishTokenizer:
    """text -> list of (token text, followed by a space) like spaCy's English tokenizer.

    Args:
        rules_file: a JSON file written by scripts/export_spacy_rules.py.
    """

    def __init__(self, rules_file: str | Path = RULES_FILE) -> None:
        data = json.loads(Path(rules_file).read_text(encoding="utf-8"))
        self.spacy_version: str = data["spacy_version"]
        self._prefix = _compile(data["prefix"])
        self._suffix = _compile(data["suffix"])
        self._infix = _compile(data["infix"])
        self._token_match = _compile(data["token_match"])
        self._url_match = _compile(data["url_match"])
        self._specials: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in data["rules"].items()}
        # first token -> [(pattern tokens, special string)] for step 3
        self._matcher: dict[str, list[tuple[tuple[str, ...], str]]] = {}
        for string, pattern in data["matcher"].items():
            if pattern:
                self._matcher.setdefault(pattern[0], []).append((tuple(pattern), string))
        self._first = frozenset(self._matcher)
        self._chunk = lru_cache(maxsize=100_000)(self._tokenize_chunk)

    # ----- step 2: one chunk between white space ---------------------------------------------

    def _affix_len(self, regex, string: str) -> int:
        if regex is None:
            return 0
        m = regex.search(string)
        return m.end() - m.start() if m is not None else 0

    def _is_whole(self, regex, string: str) -> bool:
        return regex is not None and regex.match(string) is not None

    def _tokenize_chunk(self, chunk: str) -> tuple[str, ...]:
        specials = self._specials
        if chunk in specials:
            return specials[chunk]
        prefixes: list[str] = []
        suffixes: list[str] = []
        string, last_size = chunk, 0
        while string and len(string) != last_size:
            if self._is_whole(self._token_match, string) or string in specials:
                break
            last_size = len(string)
            pre_len = self._affix_len(self._prefix, string)
            if pre_len:
                prefix, minus_pre = string[:pre_len], string[pre_len:]
                if minus_pre and minus_pre in specials:
                    string = minus_pre
                    prefixes.append(prefix)
                    break
            suf_len = self._affix_len(self._suffix, string[pre_len:])
            if suf_len:
                suffix, minus_suf = string[-suf_len:], string[:-suf_len]
                if minus_suf and minus_suf in specials:
                    string = minus_suf
                    suffixes.append(suffix)
                    break
            if pre_len and suf_len and pre_len + suf_len <= len(string):
                string = string[pre_len:-suf_len]
                prefixes.append(prefix)
                suffixes.append(suffix)
            elif pre_len:
                string = minus_pre
                prefixes.append(prefix)
            elif suf_len:
                string = minus_suf
                suffixes.append(suffix)
        out = prefixes
        if string:
            if string in specials:
                out.extend(specials[string])
            elif self._is_whole(self._token_match, string) or self._is_whole(self._url_match, string):
                out.append(string)
            else:
                out.extend(self._split_infixes(string))
        out.extend(reversed(suffixes))
        return tuple(out)

    def _split_infixes(self, string: str) -> list[str]:
        if self._infix is None:
            return [string]
        pieces, start = [], 0
        for m in self._infix.finditer(string):
            s, e = m.start(), m.end()
            if s == 0:  # spaCy ignores an infix at the very start
                continue
            if s != start:
                pieces.append(string[start:s])
            if s != e:
                pieces.append(string[s:e])
            start = e
        if string[start:]:
            pieces.append(string[start:])
        return pieces

    # ----- steps 1 and 3 ---------------------------------------------------------------------

    def tokens_with_spaces(self, text: str) -> list[tuple[str, bool]]:
        """(token text, followed by one space) for each token, white-space tokens included."""
        words: list[str] = []
        spaces: list[bool] = []
        for run in _RUNS.finditer(text):  # alternating runs of white space and of other characters
            chunk = run.group()
            if chunk[0].isspace():
                if words and chunk[0] == " ":  # one space after a word is that word's trailing space
                    spaces[-1] = True
                    chunk = chunk[1:]
                if not chunk:
                    continue
            pieces = self._chunk(chunk)
            words.extend(pieces)
            spaces.extend([False] * len(pieces))
        if self._matcher:
            words, spaces = self._join_specials(words, spaces)
        return list(zip(words, spaces))

    def _matches(self, words: list[str]) -> list[tuple[int, int]]:
        """(start, end) of every run of tokens equal to the pieces of a special case."""
        if self._first.isdisjoint(words):
            return []
        matches = []
        for i, w in enumerate(words):
            for pattern, _ in self._matcher.get(w, ()):
                n = len(pattern)
                if tuple(words[i : i + n]) == pattern:
                    matches.append((i, i + n))
        return matches

    def _join_specials(self, words: list[str], spaces: list[bool]) -> tuple[list[str], list[bool]]:
        matches = self._matches(words)
        if not matches:
            return words, spaces
        # spaCy's order: longest first, then leftmost; a match is kept when neither its first nor
        # its last token was covered by a match looked at before it (kept or not).
        matches = sorted(set(matches), key=lambda m: (-(m[1] - m[0]), m[0]))
        seen: set[int] = set()
        kept = {}
        for s, e in matches:
            if s not in seen and (e - 1) not in seen:
                kept[s] = e
            seen.update(range(s, e))
        new_words, new_spaces, i = [], [], 0
        while i < len(words):
            e = kept.get(i)
            if e is None:
                new_words.append(words[i])
                new_spaces.append(spaces[i])
                i += 1
                continue
            text = "".join(w + (" " if sp else "") for w, sp in zip(words[i : e - 1], spaces[i : e - 1])) + words[e - 1]
            pieces = self._specials.get(text)
            if pieces is None:  # tokens separated by a space: not the special case
                new_words.extend(words[i:e])
                new_spaces.extend(spaces[i:e])
            else:
                new_words.extend(pieces)
                new_spaces.extend([False] * (len(pieces) - 1) + [spaces[e - 1]])
            i = e
        return new_words, new_spaces

    def __call__(self, text: str) -> list[str]:
        """Token texts of `text`, white-space tokens dropped (as `Tokenizer` does with spaCy)."""
        if _PLAIN.fullmatch(text):  # shortcut, same result: no white-space tokens, no spaces to track
            chunk = self._chunk
            words = [w for part in text.split(" ") for w in chunk(part)]
            if not self._matches(words):  # nothing for step 3 to re-join
                return words
        return [w for w, _ in self.tokens_with_spaces(text) if not w.isspace()]
