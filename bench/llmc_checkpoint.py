#!/usr/bin/python3
"""Writes inputs for llm.c's CPU trainer (train_gpt2.c) with random weights and random token ids.

llm.c is never part of this repository; bench/train_vs_llmc.sh builds it from a copy outside the tree. This script
writes, into --dir:
  gpt2_124M.bin  model file: 256 int32 header [20240326, 3, maxT, V, L, NH, C, Vp], then float32 parameters in
                 llm.c's order (wte (Vp,C), wpe (maxT,C), ln1w (L,C), ln1b (L,C), qkvw (L,3C,C), qkvb (L,3C),
                 attprojw (L,C,C), attprojb (L,C), ln2w (L,C), ln2b (L,C), fcw (L,4C,C), fcb (L,4C),
                 fcprojw (L,C,4C), fcprojb (L,C), lnfw (C), lnfb (C)); weights N(0, 0.02), LayerNorm weights 1,
                 biases 0 (the GPT-2 init, as lmcpp bench train uses).
  dev/data/tinyshakespeare/tiny_shakespeare_{train,val}.bin  token files: 256 int32 header [20240520, 1, ntok],
                 then ntok uint16 ids, uniform over [0, V).
Example: /usr/bin/python3 bench/llmc_checkpoint.py --dir /work/peers/llm.c --n_layer 12 --n_head 12 --n_embd 768
"""
import argparse
import os

import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--n_layer", type=int, default=12)
    ap.add_argument("--n_head", type=int, default=12)
    ap.add_argument("--n_embd", type=int, default=768)
    ap.add_argument("--vocab", type=int, default=50257)
    ap.add_argument("--padded_vocab", type=int, default=50304)
    ap.add_argument("--max_t", type=int, default=1024)
    ap.add_argument("--tokens", type=int, default=1 << 20)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    L, C, V, Vp, maxT = a.n_layer, a.n_embd, a.vocab, a.padded_vocab, a.max_t

    def normal(*shape):
        return (rng.standard_normal(shape, dtype=np.float32) * np.float32(0.02)).astype(np.float32)

    ones = lambda *s: np.ones(s, np.float32)
    zeros = lambda *s: np.zeros(s, np.float32)
    wte = normal(Vp, C)
    wte[V:] = 0.0  # llm.c keeps the padded rows zero
    tensors = [wte, normal(maxT, C), ones(L, C), zeros(L, C), normal(L, 3 * C, C), zeros(L, 3 * C),
               normal(L, C, C), zeros(L, C), ones(L, C), zeros(L, C), normal(L, 4 * C, C), zeros(L, 4 * C),
               normal(L, C, 4 * C), zeros(L, C), ones(C), zeros(C)]
    header = np.zeros(256, np.int32)
    header[:8] = [20240326, 3, maxT, V, L, a.n_head, C, Vp]
    os.makedirs(a.dir, exist_ok=True)
    with open(os.path.join(a.dir, "gpt2_124M.bin"), "wb") as f:
        f.write(header.tobytes())
        for t in tensors:
            f.write(t.tobytes())
    d = os.path.join(a.dir, "dev", "data", "tinyshakespeare")
    os.makedirs(d, exist_ok=True)
    for name in ("tiny_shakespeare_train.bin", "tiny_shakespeare_val.bin"):
        h = np.zeros(256, np.int32)
        h[:3] = [20240520, 1, a.tokens]
        ids = rng.integers(0, V, a.tokens, dtype=np.uint16)
        with open(os.path.join(d, name), "wb") as f:
            f.write(h.tobytes())
            f.write(ids.tobytes())
    print(f"wrote {a.dir}/gpt2_124M.bin ({sum(t.size for t in tensors)} params) and token files")


if __name__ == "__main__":
    main()
