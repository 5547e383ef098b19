"""Export spaCy's English tokenizer rules to siamese_text/spacy_en_rules.json.

The fast tokenizer (siamese_text/fast_tokenizer.py) replays spaCy's algorithm from this file, so
scoring needs neither spaCy nor torch. Re-run after upgrading spaCy, then run
tests/test_fast_tokenizer.py, which compares the two on the corpora and on edge cases:

    python scripts/export_spacy_rules.py
"""

from __future__ import annotations

import json
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "siamese_text" / "text" / "spacy_en_rules.json"


def _pattern(fn) -> dict | None:
    """The regex behind a bound `re.Pattern` method (search/finditer/match), or None."""
    if fn is None:
        return None
    compiled = fn.__self__
    return {"pattern": compiled.pattern, "flags": int(compiled.flags)}


def export() -> dict:
    import spacy
    from spacy.attrs import ORTH
    from spacy.tokenizer import Tokenizer

    nlp = spacy.blank("en")
    tok = nlp.tokenizer
    # The same regexes without special cases: how spaCy splits a special-case string before its
    # special-case matcher re-joins it (Tokenizer._tokenize_affixes(string, False)).
    bare = Tokenizer(nlp.vocab, rules={}, prefix_search=tok.prefix_search, suffix_search=tok.suffix_search,
                     infix_finditer=tok.infix_finditer, token_match=tok.token_match, url_match=tok.url_match)
    rules, matcher = {}, {}
    for string, substrings in sorted(tok.rules.items()):
        orths = [d[ORTH] if ORTH in d else d["ORTH"] for d in substrings]
        orths = [o if isinstance(o, str) else nlp.vocab.strings[o] for o in orths]
        if "".join(orths) != string:
            raise ValueError(f"special case {string!r} does not spell its string")
        rules[string] = orths
        # spaCy (faster_heuristics=True) adds a special case to its matcher only when the affix
        # rules would split it or it holds a space.
        if not tok.faster_heuristics or tok.find_prefix(string) or tok.find_suffix(string) \
                or tok.find_infix(string) or " " in string:
            matcher[string] = [t.text for t in bare(string)]
    return {
        "spacy_version": spacy.__version__,
        "language": "en",
        "faster_heuristics": bool(tok.faster_heuristics),
        "prefix": _pattern(tok.prefix_search),
        "suffix": _pattern(tok.suffix_search),
        "infix": _pattern(tok.infix_finditer),
        "token_match": _pattern(tok.token_match),
        "url_match": _pattern(tok.url_match),
        "rules": rules,
        "matcher": matcher,
    }


def main() -> None:
    data = export()
    OUT.write_text(json.dumps(data, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")
    print(f"wrote {OUT} (spaCy {data['spacy_version']}, {len(data['rules'])} special cases, "
          f"{len(data['matcher'])} in the matcher)")


if __name__ == "__main__":
    main()
