"""Record the bundled model's provenance in its config.json, without machine paths.

Run by scripts/build_default_model.sh as its last step:

    python scripts/stamp_default_model.py siamese_text/default_model/config.json

meta.command becomes the build script, meta.steps the commands the script runs, copied from the
script itself with its variables ($DATA, $WORK, $OUT, $SPLIT, $WORDS) unexpanded, and every path
the training commands recorded (the distillation's word-vector file, the command lines as run) is
dropped or rewritten relative to those variables. tests/test_default_model.py checks the result.

Then it writes the folder's network for ONNX Runtime (encoder.onnx, encoder.int8.onnx, about
2.5 MB together; needs torch and onnx), by the command it records as meta.onnx_export ($OUT: siamese_text/default_model):

    python -m siamese_text.model.onnx_export $OUT
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent / "build_default_model.sh"
ONNX_EXPORT = "python -m siamese_text.model.onnx_export"


def script_steps(script: Path = SCRIPT) -> list[str]:
    """The commands of the build script (continuation lines joined), in order."""
    text = script.read_text(encoding="utf-8").replace("\\\n", " ")
    steps = []
    for line in text.splitlines():
        line = re.sub(r"\s+", " ", line).strip()
        if line.startswith(("siamese-text ", "python scripts/")) and "stamp_default_model" not in line:
            steps.append(line)
    return steps


def stamp(config_file: Path) -> None:
    config = json.loads(config_file.read_text(encoding="utf-8"))
    meta = config["meta"]
    for key in ("command_as_run", "initialised_from"):
        meta.pop(key, None)
    meta["command"] = "bash scripts/build_default_model.sh"
    meta["steps"] = script_steps()
    meta["onnx_export"] = f"{ONNX_EXPORT} $OUT"  # as the steps, with the build script's variable
    if meta.get("distill", {}).get("embeddings"):
        meta["distill"]["embeddings"] = "$WORK/words.txt"
    texts = int(str(meta.get("distilled_on", "0")).split()[0])  # "N unlabelled texts, M unlabelled pairs"
    meta["trained_on"] = (
        f"distilled from all-MiniLM-L6-v2 on {texts:,} unlabelled sentences of ../shared/data (no sentence of a "
        "reported test set or of the QQP validation split; PAWS left out), starting from the teacher's static word "
        "vectors (vocabulary extended with the teacher's whole words), then fine-tuned on the 6,500 training pairs "
        "of the canonical QQP split (dev.tsv, qqp-bimpm, split_pairs [0.65, 0.15, 0.2] seed 0)")
    config_file.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def export_network(config_file: Path) -> None:
    """The folder's network for ONNX Runtime, as `meta.onnx_export` says (run here, in-process)."""
    from siamese_text.model.onnx_export import main

    main([str(config_file.parent)])


if __name__ == "__main__":
    stamp(Path(sys.argv[1]))
    export_network(Path(sys.argv[1]))
