"""The model card: what a model is, what it learnt from, how well it did and what runs it (`info`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from siamese_text.model.siamese import SiameseModel


def card_rows(model: "SiameseModel") -> list[tuple[str, str]]:
    """(field, text) rows: encoder sizes, parameters, energy and calibration, provenance, metrics, backend."""
    c, meta, cal = model.encoder_config, model.meta, model.calibration
    subwords = f"hashed n-grams {c.subword_buckets} buckets" if c.subword_buckets else "no subwords"
    rows = [
        ("encoder", f"BiLSTM {c.num_layers} layer(s) x {c.hidden_size} hidden, {c.embedding_dim}-d embeddings, "
                    f"{c.pooling} pooling, {subwords}"),
        ("parameters", f"{sum(w.size for w in model.weights.values()):,}; vocabulary {c.vocab_size:,} tokens; "
                       f"vector {model.dim}-d"),
        ("energy", f"{model.energy.value}; calibration {cal.method} ({cal.fitted_on}); "
                   f"threshold {model.threshold:.4f}" if cal.fitted else
                   f"{model.energy.value}; uncalibrated (no probabilities: fit with Trainer.calibrate)"),
        ("trained on", str(meta.get("trained_on", "unknown"))),
    ]
    for key in ("validation", "test"):
        if isinstance(meta.get(key), dict):
            rows.append((key, ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
                                        for k, v in meta[key].items())))
    if "command" in meta:
        rows.append(("rebuild with", str(meta["command"])))
    rows.append(("backend", model.backend_reason()))
    return rows

