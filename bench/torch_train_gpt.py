#!/usr/bin/python3
"""PyTorch counterpart of `lmcpp train` for side-by-side loss curves and wall time.

Reads the same prepared data directory (lmcpp token shards: 64-byte header, then little-endian uint16/uint32
tokens) and the same lmcpp train config JSON, and trains the same GPT-2 (pre-LN, gelu_new, tied head, HF init,
dropout on embeddings/attention probabilities/residuals) with the same recipe: AdamW (weight decay only on 2-D
attention/MLP weights), linear warmup + cosine to min_lr, global grad-norm clipping, gradient accumulation, and a
validation loss every eval_every steps over the first eval_batches sequential windows of the val shards (windows of
T+1 tokens at stride T, as lmcpp's loader). Training windows are drawn uniformly at random (torch's RNG), so the
batches differ from lmcpp's: the curves should agree within noise, not bitwise.

  OPENBLAS_CORETYPE=SkylakeX /usr/bin/python3 bench/torch_train_gpt.py --config configs/shakespeare_char.json \
      --out out/shakespeare_char/torch [--set max_steps=500] [--threads 2]

Writes OUT/metrics.jsonl with the same keys as lmcpp ("step", "loss", "val_loss", "elapsed_s").
"""

import argparse
import glob
import json
import math
import os
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def read_shard(path):
    with open(path, "rb") as f:
        head = f.read(64)
    assert head[:8] == b"LMSHARD1", f"{path}: not an lmcpp shard"
    width = int.from_bytes(head[12:16], "little")
    count = int.from_bytes(head[16:24], "little")
    dtype = np.uint16 if width == 2 else np.uint32
    return np.memmap(path, dtype=dtype, mode="r", offset=64, shape=(count,))


class Block(nn.Module):
    def __init__(self, E, H, I, eps, attn_p, resid_p):
        super().__init__()
        self.H, self.attn_p, self.resid_p = H, attn_p, resid_p
        self.ln_1 = nn.LayerNorm(E, eps=eps)
        self.c_attn = nn.Linear(E, 3 * E)
        self.c_proj = nn.Linear(E, E)
        self.ln_2 = nn.LayerNorm(E, eps=eps)
        self.c_fc = nn.Linear(E, I)
        self.mlp_proj = nn.Linear(I, E)

    def forward(self, x, causal):
        B, T, E = x.shape
        H, D = self.H, E // self.H
        q, k, v = self.c_attn(self.ln_1(x)).split(E, dim=2)
        q, k, v = (t.view(B, T, H, D).transpose(1, 2) for t in (q, k, v))
        s = (q @ k.transpose(-1, -2)) / math.sqrt(D)
        s = s.masked_fill(~causal[:T, :T], torch.finfo(s.dtype).min)
        p = F.dropout(torch.softmax(s, dim=-1), self.attn_p, self.training)
        o = (p @ v).transpose(1, 2).reshape(B, T, E)
        x = x + F.dropout(self.c_proj(o), self.resid_p, self.training)
        h = self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))
        return x + F.dropout(h, self.resid_p, self.training)


class GPT(nn.Module):
    def __init__(self, V, P, E, L, H, I, eps, p):
        super().__init__()
        self.p = p
        self.wte = nn.Embedding(V, E)
        self.wpe = nn.Embedding(P, E)
        self.h = nn.ModuleList(Block(E, H, I, eps, p, p) for _ in range(L))
        self.ln_f = nn.LayerNorm(E, eps=eps)
        self.register_buffer("causal", torch.tril(torch.ones(P, P, dtype=torch.bool)))
        for n, q in self.named_parameters():  # HF GPT-2 init
            if n.endswith("bias"):
                nn.init.zeros_(q)
            elif "ln_" in n:
                nn.init.ones_(q)
            elif n.endswith("c_proj.weight") or n.endswith("mlp_proj.weight"):
                nn.init.normal_(q, 0.0, 0.02 / math.sqrt(2 * L))
            else:
                nn.init.normal_(q, 0.0, 0.02)

    def forward(self, ids, targets):
        T = ids.shape[1]
        x = F.dropout(self.wte(ids) + self.wpe(torch.arange(T)), self.p, self.training)
        for b in self.h:
            x = b(x, self.causal)
        logits = self.ln_f(x) @ self.wte.weight.t()
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.reshape(-1), ignore_index=-100)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    cfg = json.load(open(args.config))
    for kv in args.set:
        k, v = kv.split("=", 1)
        try:
            v = json.loads(v)
        except json.JSONDecodeError:
            pass
        node = cfg
        parts = k.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = v
    torch.set_num_threads(args.threads)
    torch.manual_seed(cfg.get("seed", 1337))
    data = cfg["data"]
    meta = json.load(open(os.path.join(data, "meta.json")))
    m = cfg["model"]
    V = m.get("vocab_size", meta["vocab_size"])
    E, L, H = m["n_embd"], m["n_layer"], m["n_head"]
    P = m.get("n_positions", cfg["seq_len"])
    I = m.get("n_inner") or 4 * E
    p = cfg.get("dropout", 0.0) or 0.0
    model = GPT(V, P, E, L, H, I, m.get("layer_norm_epsilon", 1e-5), p)
    decay = [q for n, q in model.named_parameters() if q.dim() == 2 and not n.startswith("w")]
    no_decay = [q for n, q in model.named_parameters() if not (q.dim() == 2 and not n.startswith("w"))]
    lr, min_lr = cfg.get("lr", 6e-4), cfg.get("min_lr", cfg.get("lr", 6e-4) * 0.1)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.get("weight_decay", 0.1)},
                             {"params": no_decay, "weight_decay": 0.0}], lr=lr,
                            betas=(cfg.get("beta1", 0.9), cfg.get("beta2", 0.95)), eps=cfg.get("eps", 1e-8),
                            foreach=False)
    B, T, K = cfg["batch_size"], cfg["seq_len"], cfg.get("grad_accum", 1)
    steps, warm = cfg["max_steps"], cfg.get("warmup_steps", 0)
    train = [read_shard(f) for f in sorted(glob.glob(os.path.join(data, "train_*.bin")))]
    val = np.concatenate([read_shard(f) for f in sorted(glob.glob(os.path.join(data, "val_*.bin")))])
    g = torch.Generator().manual_seed(cfg.get("seed", 1337))

    def lr_at(s):
        if warm and s < warm:
            return lr * (s + 1) / warm
        prog = min(1.0, max(0.0, (s - warm) / max(1, steps - warm)))
        return min_lr + 0.5 * (lr - min_lr) * (1 + math.cos(math.pi * prog))

    def batch():
        xs, ys = [], []
        for _ in range(B):
            sh = train[int(torch.randint(len(train), (1,), generator=g))]
            i = int(torch.randint(len(sh) - T - 1, (1,), generator=g))
            w = torch.from_numpy(sh[i:i + T + 1].astype(np.int64))
            xs.append(w[:-1])
            ys.append(w[1:])
        return torch.stack(xs), torch.stack(ys)

    def evaluate():
        model.eval()
        nb = min(cfg.get("eval_batches", 20), (len(val) - 1) // T // B)
        tot = 0.0
        with torch.no_grad():
            for b in range(nb):
                ws = [torch.from_numpy(val[(b * B + r) * T:(b * B + r) * T + T + 1].astype(np.int64)) for r in range(B)]
                x, y = torch.stack([w[:-1] for w in ws]), torch.stack([w[1:] for w in ws])
                tot += float(model(x, y))
        model.train()
        return tot / nb

    os.makedirs(args.out, exist_ok=True)
    log = open(os.path.join(args.out, "metrics.jsonl"), "w")
    t0 = time.time()
    model.train()
    for s in range(steps):
        for group in opt.param_groups:
            group["lr"] = lr_at(s)
        opt.zero_grad(set_to_none=True)
        tot = 0.0
        for _ in range(K):
            x, y = batch()
            loss = model(x, y) / K
            loss.backward()
            tot += float(loss)
        if cfg.get("grad_clip", 1.0) > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.get("grad_clip", 1.0))
        opt.step()
        ev = {"step": s + 1, "loss": tot, "lr": lr_at(s), "elapsed_s": time.time() - t0}
        log.write(json.dumps(ev) + "\n")
        every = cfg.get("eval_every", 0)
        if (every and (s + 1) % every == 0) or s + 1 == steps:
            vl = evaluate()
            log.write(json.dumps({"step": s + 1, "val_loss": vl, "elapsed_s": time.time() - t0}) + "\n")
            print(f"step {s + 1}: train {tot:.4f} val {vl:.4f} ({time.time() - t0:.0f} s)", flush=True)
        log.flush()


if __name__ == "__main__":
    main()
