"""Small torch Encoders with every weight made to matter, shared by the backend tests
(tests/test_numpy_encoder.py, tests/test_onnx_backend.py), with the vocabulary and texts they read."""

from __future__ import annotations

import itertools

import torch

from siamese_text.model.torch_encoder import Encoder, EncoderConfig

TOKENS = ["<pad>", "<unk>", "how", "do", "i", "learn", "python", "?", "what", "is", "the", "best", "way", "not"]
TEXTS = ["How do I learn Python?", "What is the best way to learn python?", "", "not", "zebra unicorn ?",
         "how how how do do i i learn learn python python what is is the best way ? ? ?"]
# every pooling, with and without n-grams, one and two layers, with and without a projection
SETTINGS = [dict(pooling=p, subword_buckets=b, num_layers=n, output_dim=o)
            for p, b, n, o in itertools.product(["mean", "max", "last"], [0, 32], [1, 2], [0, 3])]


def tiny_encoder(seed: int, **options) -> Encoder:
    """An Encoder over TOKENS (6-d embeddings, 5 hidden), its weights drawn from `seed` and enlarged."""
    torch.manual_seed(seed)
    encoder = Encoder(EncoderConfig(vocab_size=len(TOKENS), embedding_dim=6, hidden_size=5, **options)).eval()
    with torch.no_grad():  # the default init leaves biases small; make every weight matter
        for p in encoder.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    return encoder
