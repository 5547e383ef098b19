"""Data-parallel training with two processes launched by torchrun (gloo on CPU)."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

WORKER = textwrap.dedent("""
    import json, sys
    import torch
    from safetensors.torch import save_file
    sys.path.insert(0, {tests!r})
    from conftest import TOY_PAIRS
    from siamese_text.training.distributed import Distributed
    from siamese_text.training.trainer import Trainer, TrainConfig

    torch.set_num_threads(1)
    out = sys.argv[1]
    dist = Distributed.from_environment()
    cfg = TrainConfig(epochs=3, batch_size=2, lr=0.02, patience=100, seed=5, freeze_embeddings={freeze!r})
    trainer = Trainer(cfg, dict(embedding_dim=8, hidden_size=8, subword_buckets=64), progress=False,
                      checkpoint_dir=out + "/ckpt")
    model = trainer.fit(TOY_PAIRS, TOY_PAIRS)
    save_file({{k: torch.from_numpy(v).contiguous() for k, v in model.weights.items()}}, f"{{out}}/rank{{dist.rank}}.safetensors")
    with open(f"{{out}}/rank{{dist.rank}}.json", "w") as fh:
        json.dump({{"world": dist.world_size, "history": trainer.history_}}, fh)
""")


@pytest.mark.slow
@pytest.mark.parametrize("freeze", [False, True])
def test_two_processes_end_with_identical_weights(tmp_path, freeze):
    from safetensors.torch import load_file

    script = tmp_path / "worker.py"
    script.write_text(WORKER.format(tests=str(Path(__file__).parent), freeze=freeze))
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
    env.update(OMP_NUM_THREADS="1", MASTER_ADDR="127.0.0.1")
    run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                          str(script), str(tmp_path)], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    import json

    infos = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [i["world"] for i in infos] == [2, 2]
    w0, w1 = (load_file(str(tmp_path / f"rank{r}.safetensors")) for r in (0, 1))
    assert w0.keys() == w1.keys()
    for k in w0:
        assert torch.equal(w0[k], w1[k]), k
    # training happened: weights moved away from the seeded initialisation, and rank 0 checkpointed
    torch.manual_seed(5)
    from siamese_text.model.torch_encoder import Encoder, EncoderConfig

    fresh = Encoder(EncoderConfig(vocab_size=w0["embedding.weight"].shape[0], embedding_dim=8, hidden_size=8,
                                  subword_buckets=64)).state_dict()
    assert not torch.equal(fresh["lstm.weight_hh_l0"], w0["lstm.weight_hh_l0"])
    assert torch.equal(fresh["embedding.weight"], w0["embedding.weight"]) == freeze  # frozen: never moved
    assert (tmp_path / "ckpt" / "epoch-0003" / "state.json").is_file()
    # each process saw half of the batches: 12 pairs, batch 2 -> 6 batches -> 3 per process
    assert [i["history"][0]["batches"] for i in infos] == [3, 3]
