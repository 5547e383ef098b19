#!/usr/bin/env bash
# Regenerate the golden outputs of tests/test_golden_outputs.py from the code of the current
# checkout (they were first written by the code before the package was split into subpackages,
# commit 2da024e). Run from the repository root with the venv active:  bash tests/golden/make.sh
set -euo pipefail
G=tests/golden
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
python -m siamese_text score --json "How do I learn Python?" "What is the best way to learn Python?" > $G/score.json
python -m siamese_text score --json "Is it going to rain today?" "Will it not rain today?" >> $G/score.json
python -m siamese_text evaluate corpora/toy/pairs.tsv --json > $G/evaluate.json
cp $G/dedup_input.txt "$T/in.txt"
python -m siamese_text dedup "$T/in.txt" --out "$T/out" --report "$T/report.jsonl" > /dev/null 2>&1
cp "$T/out/in.txt" $G/dedup_out.txt
sed "s#$T/##g" "$T/report.jsonl" > $G/dedup_report.jsonl
python -m siamese_text embed $G/dedup_input.txt --out "$T/vectors.npy" > /dev/null 2>&1
cp "$T/vectors.npy" $G/embed.npy
