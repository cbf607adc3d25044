#!/usr/bin/python3
"""PyTorch CPU training-throughput baseline for the lmcpp GPT-2 model.

Same model as tests/reference/gen_gpt2.py (GPT-2: pre-LN, gelu_new/tanh,
causal attention scaled by 1/sqrt(head_dim), tied lm_head, no dropout), built
from nn modules, trained in float32 with torch.optim.AdamW (weight decay 0.1
only on attention/MLP weight matrices; none on biases, LayerNorm, wte, wpe),
global grad-norm clipping to 1.0, foreach=False (nothing fused).
nn.Linear is used instead of Conv1D: same math, transposed storage.

--lora R adds PEFT-style LoRA (plain PyTorch, as peft.tuners.lora.Linear computes it with dropout 0:
base(x) + B(A(x)) * alpha/r, A Kaiming-uniform, B zero) on every c_attn with alpha = 2R, freezes every
other parameter, and gives AdamW the adapter only (PEFT is not packaged for Debian).

Example (config S, the defaults):
  /usr/bin/python3 bench/torch_gpt.py --steps 6
Prints one JSON line: tokens_per_s (batch*seq / median timed step time),
step_ms (median), peak_rss_mb (ru_maxrss of this process), cpu_s_per_step
(process CPU time per timed step; compare with step_ms/1000*threads to see
whether other processes were competing for the cores), plus the settings.

Note: Debian's OpenBLAS (which this torch build uses for sgemm) detects the
CPU of this VM as "Prescott" (OPENBLAS_VERBOSE=2) and then runs SSE-only
kernels; OPENBLAS_CORETYPE=SkylakeX selects the AVX-512 kernels (2048x384x1536
sgemm, 2 threads: 24 vs 162 GFLOP/s measured on an idle machine).
"""

import argparse
import json
import math
import os
import resource
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, E, H, I, eps):
        super().__init__()
        self.H = H
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
        q = q.view(B, T, H, D).transpose(1, 2)
        k = k.view(B, T, H, D).transpose(1, 2)
        v = v.view(B, T, H, D).transpose(1, 2)
        s = (q @ k.transpose(-1, -2)) / math.sqrt(D)
        s = s.masked_fill(~causal, torch.finfo(s.dtype).min)
        o = (torch.softmax(s, dim=-1) @ v).transpose(1, 2).reshape(B, T, E)
        x = x + self.c_proj(o)
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class LoraLinear(nn.Module):
    """peft.tuners.lora.Linear's forward with lora_dropout 0: result + lora_B(lora_A(x)) * scaling."""

    def __init__(self, base, r, alpha):
        super().__init__()
        self.base = base
        self.lora_A = nn.Linear(base.in_features, r, bias=False)
        self.lora_B = nn.Linear(r, base.out_features, bias=False)
        nn.init.kaiming_uniform_(self.lora_A.weight, a=math.sqrt(5))
        nn.init.zeros_(self.lora_B.weight)
        self.scaling = alpha / r

    def forward(self, x):
        return self.base(x) + self.lora_B(self.lora_A(x)) * self.scaling


class GPT(nn.Module):
    def __init__(self, vocab, n_pos, E, L, H, I, eps=1e-5):
        super().__init__()
        self.wte = nn.Embedding(vocab, E)
        self.wpe = nn.Embedding(n_pos, E)
        self.h = nn.ModuleList(Block(E, H, I, eps) for _ in range(L))
        self.ln_f = nn.LayerNorm(E, eps=eps)
        for n, p in self.named_parameters():   # HF GPT-2 init
            if n.endswith("bias"):
                nn.init.zeros_(p)
            elif "ln_" in n:
                nn.init.ones_(p)
            elif n.endswith("c_proj.weight") or n.endswith("mlp_proj.weight"):
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * L))
            else:
                nn.init.normal_(p, 0.0, 0.02)

    def forward(self, ids, targets):
        T = ids.shape[1]
        x = self.wte(ids) + self.wpe(torch.arange(T))[None]
        causal = torch.tril(torch.ones(T, T, dtype=torch.bool))
        for b in self.h:
            x = b(x, causal)
        logits = F.linear(self.ln_f(x), self.wte.weight)   # tied lm_head
        return F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.view(-1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n_layer", type=int, default=6)
    ap.add_argument("--n_head", type=int, default=6)
    ap.add_argument("--n_embd", type=int, default=384)
    ap.add_argument("--n_inner", type=int, default=None)
    ap.add_argument("--vocab", type=int, default=50304)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--steps", type=int, default=10, help="timed steps")
    ap.add_argument("--warmup", type=int, default=1, help="untimed steps before timing")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--lora", type=int, default=0, help="LoRA rank on c_attn (0: full training)")
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    I = a.n_inner if a.n_inner is not None else 4 * a.n_embd
    model = GPT(a.vocab, a.seq, a.n_embd, a.n_layer, a.n_head, I)
    if a.lora:
        for p in model.parameters():
            p.requires_grad_(False)
        for b in model.h:
            b.c_attn = LoraLinear(b.c_attn, a.lora, 2 * a.lora)
    decay = [p for n, p in model.named_parameters()
             if p.requires_grad and n.endswith(".weight") and any(k in n for k in ("c_attn", "c_proj", "c_fc", "mlp_proj"))]
    ids_decay = {id(p) for p in decay}
    no_decay = [p for p in model.parameters() if p.requires_grad and id(p) not in ids_decay]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=3e-4, betas=(0.9, 0.95), eps=1e-8, foreach=False)
    gen = torch.Generator().manual_seed(a.seed + 1)
    data = torch.randint(0, a.vocab, (a.batch, a.seq + 1), generator=gen)
    ids, tg = data[:, :-1].contiguous(), data[:, 1:].contiguous()

    times, losses, cpu = [], [], 0.0
    for step in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        c0 = time.process_time()
        opt.zero_grad(set_to_none=True)
        loss = model(ids, tg)
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
        opt.step()
        dt = time.perf_counter() - t0
        losses.append(loss.item())
        if step >= a.warmup:
            times.append(dt)
            cpu += time.process_time() - c0
    med = statistics.median(times)
    out = {
        "tokens_per_s": a.batch * a.seq / med,
        "step_ms": med * 1e3,
        "step_ms_min": min(times) * 1e3,
        "step_ms_max": max(times) * 1e3,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "cpu_s_per_step": cpu / len(times),
        "n_params": sum(p.numel() for p in model.parameters()),
        "trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "loss_first": losses[0], "loss_last": losses[-1],
        "config": vars(a),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
