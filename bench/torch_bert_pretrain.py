#!/usr/bin/python3
"""PyTorch peer for lmcpp's BERT pretraining (MLM + NSP): same data, model, optimizer and schedule.

Used to check that lmcpp's pretraining learns as fast per step as an independent implementation (issue 6):
both read the same prepared shards (`lmcpp prepare --split blank-line`, sentences layout) and the same train
config JSON (model dims, batch_size, seq_len, max_steps, lr, warmup_steps, lr_schedule linear|cosine|constant,
min_lr, beta1/beta2/eps, weight_decay, grad_clip, mlm_probability, eval_every, eval_batches).

The model is HF BertForPreTraining written with torch primitives (post-LN, erf GELU, decoder tied to the word
embeddings, cls.predictions.bias, pooler + NSP), HF initialisation (normal 0.02, zero biases, LayerNorm 1/0).
Examples follow Google's create_pretraining_data.py (chunks of sentences up to a target length, 10% shorter
targets, A/B cut at a random sentence boundary, 50% random B from another document, pair truncated from a
random end), built once; masking is dynamic (redrawn for every batch), 80/10/10. Weight decay on 2-D Linear
weights only, as lmcpp. The example builder is a re-implementation, not lmcpp's, so the batches differ; what
is compared is the learning curve (validation MLM accuracy / NSP accuracy over steps).

usage: OPENBLAS_CORETYPE=SkylakeX /usr/bin/python3 bench/torch_bert_pretrain.py --config C.json --data DIR
           [--steps N] [--threads 2] [--seed 0] [--out metrics.jsonl]
"""

import argparse
import json
import math
import os
import random
import struct
import sys
import time

import torch
import torch.nn.functional as F


def read_shard(path):
    with open(path, "rb") as f:
        head = f.read(64)
        if head[:8] != b"LMSHARD1":
            sys.exit(f"torch_bert_pretrain: {path}: not an lmcpp shard")
        dtype_bytes, = struct.unpack_from("<I", head, 12)
        n, = struct.unpack_from("<Q", head, 16)
        data = f.read()
    t = torch.frombuffer(bytearray(data), dtype=torch.int16 if dtype_bytes == 2 else torch.int32)
    if dtype_bytes == 2:
        t = t.to(torch.int32) & 0xFFFF
    assert t.numel() == n
    return t.tolist()


def documents(paths, sep):
    docs, doc, sent = [], [], []
    for p in paths:
        prev_sep = False
        for tok in read_shard(p):
            if tok == sep:
                if prev_sep:  # two separators in a row: end of document
                    if doc:
                        docs.append(doc)
                    doc = []
                else:
                    if sent:
                        doc.append(sent)
                    sent = []
                prev_sep = True
            else:
                sent.append(tok)
                prev_sep = False
        if sent:
            doc.append(sent)
            sent = []
        if doc:
            docs.append(doc)
            doc = []
    return docs


def nsp_examples(docs, max_len, rng, short_seq_prob=0.1):
    max_tokens = max_len - 3
    out = []
    for di, d in enumerate(docs):
        target = max_tokens if rng.random() >= short_seq_prob else rng.randint(2, max_tokens)
        chunk, length, i = [], 0, 0
        while i < len(d):
            chunk.append(d[i])
            length += len(d[i])
            if i == len(d) - 1 or length >= target:
                if chunk:
                    a_end = 1 if len(chunk) < 2 else rng.randint(1, len(chunk) - 1)
                    a = [t for s in chunk[:a_end] for t in s]
                    if len(chunk) == 1 or rng.random() < 0.5:
                        label = 1
                        tb = max(1, target - len(a))
                        oj = di
                        for _ in range(10):
                            oj = rng.randrange(len(docs))
                            if oj != di:
                                break
                        od = docs[oj]
                        b = []
                        for s in od[rng.randrange(len(od)):]:
                            b.extend(s)
                            if len(b) >= tb:
                                break
                        i -= len(chunk) - a_end
                    else:
                        label = 0
                        b = [t for s in chunk[a_end:] for t in s]
                    while len(a) + len(b) > max_tokens:
                        longer = a if len(a) > len(b) else b
                        if rng.random() < 0.5:
                            del longer[0]
                        else:
                            longer.pop()
                    if a and b:
                        out.append((a, b, label))
                chunk, length = [], 0
            i += 1
    return out


def make_batch(exs, T, sp, V, mlm_p, gen):
    B = len(exs)
    ids = torch.full((B, T), sp["pad"], dtype=torch.long)
    tt = torch.zeros((B, T), dtype=torch.long)
    att = torch.zeros((B, T), dtype=torch.long)
    nsp = torch.tensor([e[2] for e in exs], dtype=torch.long)
    special = torch.ones((B, T), dtype=torch.bool)
    for r, (a, b, _) in enumerate(exs):
        seq = [sp["cls"]] + a + [sp["sep"]] + b + [sp["sep"]]
        n = len(seq)
        ids[r, :n] = torch.tensor(seq)
        tt[r, len(a) + 2:n] = 1
        att[r, :n] = 1
        special[r, 1:1 + len(a)] = False
        special[r, len(a) + 2:n - 1] = False
    labels = ids.clone()
    sel = (torch.rand((B, T), generator=gen) < mlm_p) & ~special
    labels[~sel] = -100
    u = torch.rand((B, T), generator=gen)
    to_mask = sel & (u < 0.8)
    to_rand = sel & (u >= 0.8) & (u < 0.9)
    ids[to_mask] = sp["mask"]
    ids[to_rand] = torch.randint(0, V, (B, T), generator=gen)[to_rand]
    return ids, tt, att, labels, nsp


def init_params(c, gen):
    C, V, I, L = c["hidden_size"], c["vocab_size"], c["intermediate_size"], c["num_hidden_layers"]
    P = c.get("max_position_embeddings", 512)
    shapes = {"wte": (V, C), "wpe": (P, C), "wtt": (c.get("type_vocab_size", 2), C), "eln.w": (C,), "eln.b": (C,),
              "pool.w": (C, C), "pool.b": (C,), "mlm.w": (C, C), "mlm.b": (C,), "mlm.ln.w": (C,),
              "mlm.ln.b": (C,), "mlm.bias": (V,), "nsp.w": (2, C), "nsp.b": (2,)}
    for l in range(L):
        shapes.update({f"{l}.qkv.w": (3 * C, C), f"{l}.qkv.b": (3 * C,), f"{l}.o.w": (C, C), f"{l}.o.b": (C,),
                       f"{l}.ln1.w": (C,), f"{l}.ln1.b": (C,), f"{l}.i.w": (I, C), f"{l}.i.b": (I,),
                       f"{l}.f.w": (C, I), f"{l}.f.b": (C,), f"{l}.ln2.w": (C,), f"{l}.ln2.b": (C,)})
    p = {}
    for n, s in shapes.items():
        if n.endswith("ln.w") or n.endswith("ln1.w") or n.endswith("ln2.w") or n == "eln.w":
            t = torch.ones(s)
        elif len(s) == 1:
            t = torch.zeros(s)
        else:
            t = torch.randn(s, generator=gen) * c.get("initializer_range", 0.02)
        p[n] = t.requires_grad_()
    return p


def forward(p, c, ids, tt, att):
    B, T = ids.shape
    C, H, eps = c["hidden_size"], c["num_attention_heads"], c.get("layer_norm_eps", 1e-12)
    D = C // H
    x = p["wte"][ids] + p["wtt"][tt] + p["wpe"][:T][None]
    x = F.layer_norm(x, (C,), p["eln.w"], p["eln.b"], eps)
    ext = (1.0 - att.to(x.dtype))[:, None, None, :] * torch.finfo(x.dtype).min
    for l in range(c["num_hidden_layers"]):
        qkv = F.linear(x, p[f"{l}.qkv.w"], p[f"{l}.qkv.b"]).view(B, T, 3, H, D).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(D) + ext, dim=-1)
        ctx = (a @ v).permute(0, 2, 1, 3).reshape(B, T, C)
        x = F.layer_norm(F.linear(ctx, p[f"{l}.o.w"], p[f"{l}.o.b"]) + x, (C,), p[f"{l}.ln1.w"], p[f"{l}.ln1.b"], eps)
        h = F.linear(F.gelu(F.linear(x, p[f"{l}.i.w"], p[f"{l}.i.b"])), p[f"{l}.f.w"], p[f"{l}.f.b"])
        x = F.layer_norm(h + x, (C,), p[f"{l}.ln2.w"], p[f"{l}.ln2.b"], eps)
    pooled = torch.tanh(F.linear(x[:, 0], p["pool.w"], p["pool.b"]))
    t = F.layer_norm(F.gelu(F.linear(x, p["mlm.w"], p["mlm.b"])), (C,), p["mlm.ln.w"], p["mlm.ln.b"], eps)
    return t @ p["wte"].t() + p["mlm.bias"], F.linear(pooled, p["nsp.w"], p["nsp.b"])


def lr_at(cfg, step):  # step = 0-based index of the update (lmcpp: schedule.at(step))
    lr, warm, total = cfg.get("lr", 6e-4), cfg.get("warmup_steps", 0), cfg["max_steps"]
    min_lr, kind = cfg.get("min_lr", 0.0), cfg.get("lr_schedule", "cosine")
    if warm > 0 and step < warm:
        return lr * (step + 1) / warm
    if kind == "constant":
        return lr
    frac = min(1.0, (step - warm) / max(1, total - warm))
    if kind == "linear":
        return lr + (min_lr - lr) * frac
    return min_lr + 0.5 * (lr - min_lr) * (1 + math.cos(math.pi * frac))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--steps", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    cfg = json.load(open(a.config))
    if a.steps:
        cfg["max_steps"] = a.steps
    # What this peer does not implement is refused instead of silently trained differently.
    unsupported = [k for k in ("init", "whole_word_masking", "dropout") if cfg.get(k)]
    for k in ("hidden_dropout_prob", "attention_probs_dropout_prob"):
        if cfg.get("model", {}).get(k, 0.1) != 0:  # HF's default is 0.1; this peer has no dropout
            unsupported.append(f"model.{k} != 0")
    if cfg.get("grad_accum", 1) != 1:
        unsupported.append("grad_accum")
    if cfg.get("lr_schedule", "cosine") not in ("linear", "cosine", "constant"):
        unsupported.append("lr_schedule " + cfg["lr_schedule"])
    if unsupported:
        sys.exit(f"torch_bert_pretrain: {a.config}: not supported here: {', '.join(unsupported)}")
    meta = json.load(open(os.path.join(a.data, "meta.json")))
    vocab = [l.rstrip("\n") for l in open(os.path.join(a.data, meta.get("tokenizer_dir", "tokenizer"), "vocab.txt"),
                                          encoding="utf-8")]
    sp = {k: vocab.index(f"[{k.upper()}]") for k in ("cls", "sep", "mask", "pad")}
    c = dict(cfg["model"])
    c.setdefault("vocab_size", meta["vocab_size"])
    c.setdefault("max_position_embeddings", 512)
    V, T, B = c["vocab_size"], cfg["seq_len"], cfg["batch_size"]
    rng = random.Random(a.seed)
    train = nsp_examples(documents([os.path.join(a.data, s) for s in meta["train_shards"]], sp["sep"]), T, rng)
    val = nsp_examples(documents([os.path.join(a.data, s) for s in meta["val_shards"]], sp["sep"]), T, rng)
    print(f"examples: train {len(train)}, val {len(val)}", flush=True)
    gen = torch.Generator().manual_seed(a.seed)
    p = init_params(c, gen)
    decay = [t for n, t in p.items() if t.dim() == 2 and not n.startswith("w")]
    no_decay = [t for n, t in p.items() if not (t.dim() == 2 and not n.startswith("w"))]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.get("weight_decay", 0.0)},
                             {"params": no_decay, "weight_decay": 0.0}], lr=cfg.get("lr", 6e-4),
                            betas=(cfg.get("beta1", 0.9), cfg.get("beta2", 0.999)), eps=cfg.get("eps", 1e-8))
    mlm_p = cfg.get("mlm_probability", 0.15)
    eval_every, eval_batches = cfg.get("eval_every", 0), cfg.get("eval_batches", 20)
    out = open(a.out, "w") if a.out else None

    def evaluate(step):
        g = torch.Generator().manual_seed(12345)
        n_ok = n_tok = nsp_ok = nsp_n = 0
        loss_sum = 0.0
        with torch.no_grad():
            for bi in range(min(eval_batches, max(1, len(val) // B))):
                ids, tt, att, lab, nsp = make_batch(val[bi * B:(bi + 1) * B], T, sp, V, mlm_p, g)
                ml, nl = forward(p, c, ids, tt, att)
                keep = lab != -100
                n_ok += int((ml.argmax(-1)[keep] == lab[keep]).sum())
                n_tok += int(keep.sum())
                loss_sum += float(F.cross_entropy(ml[keep], lab[keep], reduction="sum"))
                nsp_ok += int((nl.argmax(-1) == nsp).sum())
                nsp_n += len(nsp)
        r = {"step": step, "val_mlm_accuracy": n_ok / n_tok, "val_mlm_loss": loss_sum / n_tok,
             "val_nsp_accuracy": nsp_ok / nsp_n}
        print(json.dumps(r), flush=True)
        if out:
            out.write(json.dumps(r) + "\n")
            out.flush()

    order, pos = [], 0
    t0 = time.time()
    for step in range(cfg["max_steps"]):
        if pos + B > len(order):
            order = list(range(len(train)))
            rng.shuffle(order)
            pos = 0
        exs = [train[i] for i in order[pos:pos + B]]
        pos += B
        ids, tt, att, lab, nsp = make_batch(exs, T, sp, V, mlm_p, gen)
        ml, nl = forward(p, c, ids, tt, att)
        keep = lab != -100
        mlm_loss = F.cross_entropy(ml[keep], lab[keep])
        nsp_loss = F.cross_entropy(nl, nsp)
        for g_ in opt.param_groups:
            g_["lr"] = lr_at(cfg, step)
        opt.zero_grad(set_to_none=True)
        (mlm_loss + nsp_loss).backward()
        if cfg.get("grad_clip", 0) > 0:
            torch.nn.utils.clip_grad_norm_(list(p.values()), cfg["grad_clip"])
        opt.step()
        if (step + 1) % 25 == 0:
            el = time.time() - t0
            print(f"step {step + 1} mlm {mlm_loss.item():.4f} nsp {nsp_loss.item():.4f} "
                  f"{(step + 1) * B * T / el:.0f} tokens/s", flush=True)
        if eval_every and (step + 1) % eval_every == 0 and step + 1 < cfg["max_steps"]:
            evaluate(step + 1)
    evaluate(cfg["max_steps"])


if __name__ == "__main__":
    main()
