"""Write the unlabelled sentences used to distil the bundled model, one per line.

Every distinct sentence of ../shared/data EXCEPT those of the reported test sets: the held-out
QQP test split (split_pairs(dev.tsv, [0.65, 0.15, 0.2], seed=0)[2]), MRPC test, PAWS test, SICK
TEST and STS-B test. A sentence that also occurs in a test set (after normalisation) is dropped
too, so no test sentence is ever seen by the student or the teacher cache.

    python scripts/distill_sentences.py ../shared/data distill_sentences.txt [distill_pairs.tsv] [--no-paws]
        [--hold-out-valid]

--no-paws leaves out PAWS dev (long Wikipedia sentences whose pairs differ by swapped words: a
quarter of the tokens, and little that helps Quora questions), which makes distillation faster.

--hold-out-valid also leaves out the QQP validation split's sentences, so that early stopping,
calibration and the threshold see questions as new to the student as the test questions are
(otherwise every validation word is in the student's vocabulary, and validation flatters it).
The optional third file gets the unlabelled pairs (text_a<TAB>text_b) those sentences come from,
for `siamese-text distill --text-pairs`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from siamese_text.corpora.pairs import iter_tsv_lines, read_pairs, split_pairs
from siamese_text.text.tokenizer import normalize


def columns(path: Path, cols: tuple[int, int], skip_header: bool, where=None) -> list[str]:
    """Texts in two columns of a TAB-separated file (optionally filtered per row), a1 b1 a2 b2 ..."""
    out = []
    for number, fields in iter_tsv_lines(path):
        if skip_header and number == 1:
            continue
        if where is not None and not where(fields):
            continue
        out.extend(fields[c] for c in cols)
    return out


def banned_sentences(data: Path, hold_out_valid: bool) -> set[str]:
    """Normalised sentences of every reported test set (and of the QQP validation split if asked)."""
    qqp = read_pairs(data / "qqp/bimpm/dev.tsv", "qqp-bimpm")
    _, qqp_valid, qqp_test = split_pairs(qqp, [0.65, 0.15, 0.2], seed=0)
    test = [t for p in qqp_test for t in (p.a, p.b)]
    test += columns(data / "mrpc/msr_paraphrase_test.txt", (3, 4), False)
    test += columns(data / "paws_wiki/test.tsv", (1, 2), True)
    test += columns(data / "sick/SICK.txt", (1, 2), True, where=lambda f: f[-1].strip() == "TEST")
    test += columns(data / "stsb/sts-test.csv", (5, 6), False)
    if hold_out_valid:
        test += [t for p in qqp_valid for t in (p.a, p.b)]
    return {normalize(t) for t in test}


def main(data: Path, out: Path, pairs_out: Path | None = None, paws: bool = True, hold_out_valid: bool = False) -> None:
    qqp = read_pairs(data / "qqp/bimpm/dev.tsv", "qqp-bimpm")
    qqp_train, qqp_valid, _ = split_pairs(qqp, [0.65, 0.15, 0.2], seed=0)
    sick = data / "sick/SICK.txt"
    banned = banned_sentences(data, hold_out_valid)

    keep = [t for p in qqp_train + ([] if hold_out_valid else qqp_valid) for t in (p.a, p.b)]
    keep += columns(data / "mrpc/msr_paraphrase_train.txt", (3, 4), False)
    if paws:
        keep += columns(data / "paws_wiki/dev.tsv", (1, 2), True)
    keep += columns(sick, (1, 2), True, where=lambda f: f[-1].strip() != "TEST")
    keep += columns(data / "stsb/sts-train.csv", (5, 6), False)
    keep += columns(data / "stsb/sts-dev.csv", (5, 6), False)

    seen: set[str] = set()
    lines, pairs = [], set()
    keep = [" ".join(t.split()) for t in keep]  # one line per text: no tabs or line breaks inside
    for a, b in zip(keep[::2], keep[1::2]):
        if normalize(a) in banned or normalize(b) in banned or not a or not b:
            continue
        pairs.add((a, b))
        for text in (a, b):
            if normalize(text) not in seen:
                seen.add(normalize(text))
                lines.append(text)
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    if pairs_out is not None:
        rows = sorted(pairs)
        pairs_out.write_text("".join(f"{a}\t{b}\n" for a, b in rows), encoding="utf-8")
    print(f"{len(lines)} sentences -> {out} ({len(banned)} test{' and validation' if hold_out_valid else ''} "
          "sentences excluded)")


if __name__ == "__main__":
    flags = {"--no-paws", "--hold-out-valid"}
    args = [a for a in sys.argv[1:] if a not in flags]
    main(Path(args[0]), Path(args[1]), Path(args[2]) if len(args) > 2 else None, paws="--no-paws" not in sys.argv,
         hold_out_valid="--hold-out-valid" in sys.argv)
