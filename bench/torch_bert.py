#!/usr/bin/python3
"""PyTorch CPU inference-throughput baseline for BERT sequence classification (bert-base shape).

BertForSequenceClassification as HF computes it (post-LN encoder, exact-erf GELU, pooler tanh on [CLS], 2-label
classifier), random weights, random ids, no padding, eval mode under torch.no_grad(). transformers is not
installed for /usr/bin/python3, so the model is written with torch primitives. Two implementations:
  --impl plain  nn.Linear / matmul / softmax / LayerNorm, as HF's eager BertSelfAttention (the default)
  --impl nn     torch.nn.TransformerEncoder (batch_first, post-LN, gelu), whose inference "fast path"
                (torch._transformer_encoder_layer_fwd, fused native kernels) runs under no_grad in eval mode
bench/bert_vs_torch.sh runs both and compares lmcpp with the faster.
--dtype bf16 casts the whole model to torch.bfloat16 (oneDNN AMX / AVX512_BF16 kernels, torch's fastest CPU
setting here). OPENBLAS_CORETYPE=SkylakeX is set here before torch loads (Debian's OpenBLAS otherwise runs SSE kernels on this
CPU: see bench/torch_gpt.py), and torch.set_num_threads(--threads).
Prints one JSON line: sequences_per_s, tokens_per_s (median timed batch), peak_rss_mb, settings.
"""

import os

if " avx512f" in open("/proc/cpuinfo").read():  # elsewhere (Zen 3: "Zen") OpenBLAS's own choice is the best
    os.environ.setdefault("OPENBLAS_CORETYPE", "SkylakeX")

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402


class Layer(nn.Module):
    def __init__(self, C, H, I, eps):
        super().__init__()
        self.H = H
        self.qkv = nn.Linear(C, 3 * C)
        self.attn_out = nn.Linear(C, C)
        self.ln1 = nn.LayerNorm(C, eps=eps)
        self.inter = nn.Linear(C, I)
        self.out = nn.Linear(I, C)
        self.ln2 = nn.LayerNorm(C, eps=eps)

    def forward(self, x):
        B, T, C = x.shape
        H, D = self.H, C // self.H
        q, k, v = self.qkv(x).split(C, dim=2)
        q = q.view(B, T, H, D).transpose(1, 2)
        k = k.view(B, T, H, D).transpose(1, 2)
        v = v.view(B, T, H, D).transpose(1, 2)
        p = torch.softmax((q @ k.transpose(-1, -2)) / math.sqrt(D), dim=-1)
        ctx = (p @ v).transpose(1, 2).reshape(B, T, C)
        h = self.ln1(x + self.attn_out(ctx))
        return self.ln2(h + self.out(F.gelu(self.inter(h))))


class Bert(nn.Module):
    def __init__(self, impl, V=30522, P=512, TV=2, C=768, L=12, H=12, I=3072, labels=2, eps=1e-12):
        super().__init__()
        self.word = nn.Embedding(V, C)
        self.pos = nn.Embedding(P, C)
        self.tok_type = nn.Embedding(TV, C)
        self.ln = nn.LayerNorm(C, eps=eps)
        self.impl = impl
        if impl == "plain":
            self.layers = nn.ModuleList(Layer(C, H, I, eps) for _ in range(L))
        else:
            layer = nn.TransformerEncoderLayer(C, H, I, dropout=0.0, activation="gelu", layer_norm_eps=eps,
                                               batch_first=True, norm_first=False)
            self.encoder = nn.TransformerEncoder(layer, L, enable_nested_tensor=False)
        self.pooler = nn.Linear(C, C)
        self.cls = nn.Linear(C, labels)
        for n, p in self.named_parameters():
            if p.dim() >= 2:
                nn.init.normal_(p, 0.0, 0.02)

    def forward(self, ids):
        B, T = ids.shape
        x = self.word(ids) + self.pos(torch.arange(T))[None] + self.tok_type(torch.zeros_like(ids))
        x = self.ln(x)
        if self.impl == "plain":
            for l in self.layers:
                x = l(x)
        else:
            x = self.encoder(x)
        return self.cls(torch.tanh(self.pooler(x[:, 0])))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--impl", choices=["plain", "nn"], default="plain")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dtype", choices=["fp32", "bf16", "int8"], default="fp32",
                    help="bf16: the whole model cast to torch.bfloat16 (oneDNN AMX/AVX512-BF16 kernels); "
                         "int8: torch.ao.quantization.quantize_dynamic on every nn.Linear (s8 weights, "
                         "activations quantized per call, on the first of x86/fbgemm/onednn this "
                         "torch has: onednn for Debian's 1.13)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = Bert(a.impl).eval()
    if a.dtype == "bf16":
        model = model.to(torch.bfloat16)
    elif a.dtype == "int8":
        engines = torch.backends.quantized.supported_engines
        torch.backends.quantized.engine = next(e for e in ("x86", "fbgemm", "onednn", "qnnpack") if e in engines)
        model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    ids = torch.randint(0, 30522, (a.batch, a.seq), generator=torch.Generator().manual_seed(1))
    times = []
    with torch.no_grad():
        for s in range(a.warmup + a.steps):
            t0 = time.perf_counter()
            logits = model(ids)
            dt = time.perf_counter() - t0
            if s >= a.warmup:
                times.append(dt)
    med = statistics.median(times)
    print(json.dumps({
        "impl": a.impl, "sequences_per_s": a.batch / med, "tokens_per_s": a.batch * a.seq / med,
        "batch_ms": med * 1e3, "batch_ms_min": min(times) * 1e3,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "logits_sum": float(logits.float().sum()), "config": vars(a), "torch": torch.__version__,
        "threads": torch.get_num_threads(), "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
        "qengine": torch.backends.quantized.engine,
    }))


if __name__ == "__main__":
    main()
