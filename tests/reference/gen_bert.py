#!/usr/bin/python3
"""Generate BERT reference test vectors for lmcpp, independent of lmcpp code.

Run from the repository root:  /usr/bin/python3 tests/reference/gen_bert.py

The model is written from torch primitives (no `transformers`), following HF
modeling_bert semantics (shared notes hf-semantics.md, BERT part): nn.Linear
weights [out, in]; embeddings (word + token_type) + position (ids 0..T-1) ->
LayerNorm(layer_norm_eps); post-LN layers with separate query/key/value,
scores / sqrt(head_dim), key padding mask (1 - mask) * finfo.min added before
the softmax; GELU per hidden_act ("gelu" = erf, "gelu_new" = tanh); pooler =
tanh(dense(h[:, 0])); heads: BertForPreTraining (MLM transform dense + act +
LayerNorm, decoder tied to word_embeddings + cls.predictions.bias; NSP linear
on the pooled output; loss = MLM CE (ignore -100) + NSP CE),
BertForSequenceClassification (classifier on the pooled output, single-label
CE), BertForQuestionAnswering (qa_outputs -> start/end logits, loss = mean of
the two CEs). No dropout (all probabilities 0).

All reference math is float64; outputs are cast to float32 (ids int32).
Self-checks (asserted): an independent nn.Module formulation built from
nn.TransformerEncoderLayer (post-LN, nn.MultiheadAttention with
key_padding_mask), nn.Embedding, nn.Linear; central finite differences on a
few entries of every parameter; a hand-written AdamW + clipping against
torch.optim.AdamW; a safetensors round trip with the independent reader.
"""

import json
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from gen_gpt2 import read_safetensors, write_safetensors  # noqa: E402  (hand-written, torch-free format code)

ADAMW = dict(lr=1e-2, betas=(0.9, 0.95), eps=1e-6, weight_decay=0.1)
CLIP_MAX_NORM = 1.0
ADAMW_STEPS = 3

BASE = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
            max_position_embeddings=40, type_vocab_size=2, layer_norm_eps=1e-12, hidden_act="gelu")
CONFIGS = {
    # BertForPreTraining, B=2 x T=11, row 1 padded (last 3 keys masked)
    "a": dict(BASE, arch="BertForPreTraining", batch=2, seq=11, pad=[0, 3], seed=2024),
    # odd sizes: head size 10, 3 layers, 3 token types, tanh GELU, three rows with different padding
    "b": dict(vocab_size=101, hidden_size=30, num_hidden_layers=3, num_attention_heads=3, intermediate_size=41,
              max_position_embeddings=20, type_vocab_size=3, layer_norm_eps=1e-12, hidden_act="gelu_new",
              arch="BertForPreTraining", batch=3, seq=7, pad=[2, 0, 4], seed=2025),
    "cls": dict(BASE, arch="BertForSequenceClassification", num_labels=3, batch=3, seq=9, pad=[0, 4, 2], seed=2026),
    "qa": dict(BASE, arch="BertForQuestionAnswering", batch=2, seq=10, pad=[0, 3], seed=2027),
}


def has_pooler(cfg):
    return cfg["arch"] in ("BertForPreTraining", "BertForSequenceClassification", "BertModel")


def param_shapes(cfg):
    C, V, I = cfg["hidden_size"], cfg["vocab_size"], cfg["intermediate_size"]
    s = {"bert.embeddings.word_embeddings.weight": (V, C),
         "bert.embeddings.position_embeddings.weight": (cfg["max_position_embeddings"], C),
         "bert.embeddings.token_type_embeddings.weight": (cfg["type_vocab_size"], C),
         "bert.embeddings.LayerNorm.weight": (C,), "bert.embeddings.LayerNorm.bias": (C,)}
    for i in range(cfg["num_hidden_layers"]):
        p = f"bert.encoder.layer.{i}."
        for n in ("query", "key", "value"):
            s[p + f"attention.self.{n}.weight"] = (C, C)
            s[p + f"attention.self.{n}.bias"] = (C,)
        s[p + "attention.output.dense.weight"] = (C, C)
        s[p + "attention.output.dense.bias"] = (C,)
        s[p + "attention.output.LayerNorm.weight"] = (C,)
        s[p + "attention.output.LayerNorm.bias"] = (C,)
        s[p + "intermediate.dense.weight"] = (I, C)
        s[p + "intermediate.dense.bias"] = (I,)
        s[p + "output.dense.weight"] = (C, I)
        s[p + "output.dense.bias"] = (C,)
        s[p + "output.LayerNorm.weight"] = (C,)
        s[p + "output.LayerNorm.bias"] = (C,)
    if has_pooler(cfg):
        s["bert.pooler.dense.weight"] = (C, C)
        s["bert.pooler.dense.bias"] = (C,)
    if cfg["arch"] == "BertForPreTraining":
        s["cls.predictions.bias"] = (V,)
        s["cls.predictions.transform.dense.weight"] = (C, C)
        s["cls.predictions.transform.dense.bias"] = (C,)
        s["cls.predictions.transform.LayerNorm.weight"] = (C,)
        s["cls.predictions.transform.LayerNorm.bias"] = (C,)
        s["cls.seq_relationship.weight"] = (2, C)
        s["cls.seq_relationship.bias"] = (2,)
    elif cfg["arch"] == "BertForSequenceClassification":
        s["classifier.weight"] = (cfg["num_labels"], C)
        s["classifier.bias"] = (cfg["num_labels"],)
    elif cfg["arch"] == "BertForQuestionAnswering":
        s["qa_outputs.weight"] = (2, C)
        s["qa_outputs.bias"] = (2,)
    return s


def init_params(cfg, gen):
    """HF BERT init (normal(0, 0.02) for Linear and Embedding weights, zero biases, LayerNorm 1/0), plus noise
    on biases and LayerNorm parameters so that bugs in their handling are visible."""
    out = {}
    for name, shape in param_shapes(cfg).items():
        r = torch.randn(shape, generator=gen, dtype=torch.float64)
        if "LayerNorm.weight" in name:
            t = 1.0 + 0.1 * r
        elif "LayerNorm.bias" in name:
            t = 0.05 * r
        elif name.endswith(".bias"):
            t = 0.02 * r
        else:
            t = 0.02 * r
        out[name] = t
    return out


def decays(name, shape):
    """Weight decay on 2-D Linear weights only (not embeddings, LayerNorm or biases)."""
    return name.endswith(".weight") and len(shape) == 2 and "embeddings" not in name


# --------------------------------------------------------------------------
# reference model from torch primitives
# --------------------------------------------------------------------------
def act(x, name):
    if name == "gelu":
        return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))
    if name == "gelu_new":
        return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))
    raise ValueError(name)


def layer_norm(x, w, b, eps):
    mean = x.mean(dim=-1, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)   # biased variance
    return (x - mean) / torch.sqrt(var + eps) * w + b


def linear(x, w, b):
    return x @ w.t() + b                                  # nn.Linear: w is [out, in]


def forward(p, cfg, ids, tt, mask):
    """Returns a dict of HF output tensors (float64)."""
    B, T = ids.shape
    C, H, eps = cfg["hidden_size"], cfg["num_attention_heads"], cfg["layer_norm_eps"]
    D = C // H
    e = "bert.embeddings."
    x = p[e + "word_embeddings.weight"][ids] + p[e + "token_type_embeddings.weight"][tt]
    x = x + p[e + "position_embeddings.weight"][torch.arange(T)][None]
    x = layer_norm(x, p[e + "LayerNorm.weight"], p[e + "LayerNorm.bias"], eps)
    ext = (1.0 - mask.to(x.dtype))[:, None, None, :] * torch.finfo(x.dtype).min
    for i in range(cfg["num_hidden_layers"]):
        q_ = f"bert.encoder.layer.{i}."

        def heads(n):
            y = linear(x, p[q_ + f"attention.self.{n}.weight"], p[q_ + f"attention.self.{n}.bias"])
            return y.view(B, T, H, D).permute(0, 2, 1, 3)
        q, k, v = heads("query"), heads("key"), heads("value")
        s = (q @ k.transpose(-1, -2)) / math.sqrt(D) + ext
        a = torch.softmax(s, dim=-1)
        ctx = (a @ v).permute(0, 2, 1, 3).reshape(B, T, C)
        o = linear(ctx, p[q_ + "attention.output.dense.weight"], p[q_ + "attention.output.dense.bias"])
        x = layer_norm(o + x, p[q_ + "attention.output.LayerNorm.weight"],
                       p[q_ + "attention.output.LayerNorm.bias"], eps)
        h = act(linear(x, p[q_ + "intermediate.dense.weight"], p[q_ + "intermediate.dense.bias"]), cfg["hidden_act"])
        h = linear(h, p[q_ + "output.dense.weight"], p[q_ + "output.dense.bias"])
        x = layer_norm(h + x, p[q_ + "output.LayerNorm.weight"], p[q_ + "output.LayerNorm.bias"], eps)
    out = {"last_hidden_state": x}
    if has_pooler(cfg):
        out["pooler_output"] = torch.tanh(linear(x[:, 0], p["bert.pooler.dense.weight"], p["bert.pooler.dense.bias"]))
    if cfg["arch"] == "BertForPreTraining":
        t = act(linear(x, p["cls.predictions.transform.dense.weight"], p["cls.predictions.transform.dense.bias"]),
                cfg["hidden_act"])
        t = layer_norm(t, p["cls.predictions.transform.LayerNorm.weight"],
                       p["cls.predictions.transform.LayerNorm.bias"], eps)
        out["prediction_logits"] = t @ p[e + "word_embeddings.weight"].t() + p["cls.predictions.bias"]
        out["seq_relationship_logits"] = linear(out["pooler_output"], p["cls.seq_relationship.weight"],
                                                p["cls.seq_relationship.bias"])
    elif cfg["arch"] == "BertForSequenceClassification":
        out["logits"] = linear(out["pooler_output"], p["classifier.weight"], p["classifier.bias"])
    elif cfg["arch"] == "BertForQuestionAnswering":
        lg = linear(x, p["qa_outputs.weight"], p["qa_outputs.bias"])
        out["start_logits"], out["end_logits"] = lg[..., 0], lg[..., 1]
    return out


def ce(logits, targets):
    """Mean cross-entropy over targets != -100 from logsumexp (rows of logits [N, K])."""
    keep = targets != -100
    lse = torch.logsumexp(logits[keep], dim=-1)
    return (lse - logits[keep].gather(1, targets[keep][:, None])[:, 0]).mean()


def loss_fn(out, cfg, lab):
    if cfg["arch"] == "BertForPreTraining":
        V = cfg["vocab_size"]
        return ce(out["prediction_logits"].reshape(-1, V), lab["labels"].reshape(-1)) + \
            ce(out["seq_relationship_logits"], lab["next_sentence_label"])
    if cfg["arch"] == "BertForSequenceClassification":
        return ce(out["logits"], lab["labels"])
    if cfg["arch"] == "BertForQuestionAnswering":
        return (ce(out["start_logits"], lab["start_positions"]) + ce(out["end_logits"], lab["end_positions"])) / 2
    raise ValueError(cfg["arch"])


# --------------------------------------------------------------------------
# independent nn.Module formulation (self-check only)
# --------------------------------------------------------------------------
class ModBert(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        C = cfg["hidden_size"]
        self.word = nn.Embedding(cfg["vocab_size"], C)
        self.pos = nn.Embedding(cfg["max_position_embeddings"], C)
        self.typ = nn.Embedding(cfg["type_vocab_size"], C)
        self.ln = nn.LayerNorm(C, eps=cfg["layer_norm_eps"])
        actf = "gelu" if cfg["hidden_act"] == "gelu" else (lambda x: F.gelu(x, approximate="tanh"))
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(C, cfg["num_attention_heads"], cfg["intermediate_size"], dropout=0.0,
                                       activation=actf, layer_norm_eps=cfg["layer_norm_eps"], batch_first=True,
                                       norm_first=False)
            for _ in range(cfg["num_hidden_layers"]))
        self.pool = nn.Linear(C, C)
        self.tr = nn.Linear(C, C)
        self.tr_ln = nn.LayerNorm(C, eps=cfg["layer_norm_eps"])
        self.mlm_bias = nn.Parameter(torch.zeros(cfg["vocab_size"]))
        nh = {"BertForPreTraining": 2, "BertForQuestionAnswering": 2}.get(cfg["arch"], cfg.get("num_labels", 2))
        self.head = nn.Linear(C, nh)

    def forward(self, ids, tt, mask):
        T = ids.shape[1]
        x = self.ln(self.word(ids) + self.typ(tt) + self.pos(torch.arange(T))[None])
        for layer in self.layers:
            x = layer(x, src_key_padding_mask=(mask == 0))
        out = {"last_hidden_state": x}
        if has_pooler(self.cfg):
            out["pooler_output"] = torch.tanh(self.pool(x[:, 0]))
        a = self.cfg["arch"]
        if a == "BertForPreTraining":
            t = self.tr(x)
            t = F.gelu(t) if self.cfg["hidden_act"] == "gelu" else F.gelu(t, approximate="tanh")
            out["prediction_logits"] = F.linear(self.tr_ln(t), self.word.weight, self.mlm_bias)
            out["seq_relationship_logits"] = self.head(out["pooler_output"])
        elif a == "BertForSequenceClassification":
            out["logits"] = self.head(out["pooler_output"])
        else:
            lg = self.head(x)
            out["start_logits"], out["end_logits"] = lg[..., 0], lg[..., 1]
        return out

    def mapping(self):
        """HF name -> (tensor, slice of rows or None) for copying in / reading grads out."""
        m = {"bert.embeddings.word_embeddings.weight": (self.word.weight, None),
             "bert.embeddings.position_embeddings.weight": (self.pos.weight, None),
             "bert.embeddings.token_type_embeddings.weight": (self.typ.weight, None),
             "bert.embeddings.LayerNorm.weight": (self.ln.weight, None),
             "bert.embeddings.LayerNorm.bias": (self.ln.bias, None)}
        C = self.cfg["hidden_size"]
        for i, l in enumerate(self.layers):
            p = f"bert.encoder.layer.{i}."
            for j, n in enumerate(("query", "key", "value")):
                m[p + f"attention.self.{n}.weight"] = (l.self_attn.in_proj_weight, slice(j * C, (j + 1) * C))
                m[p + f"attention.self.{n}.bias"] = (l.self_attn.in_proj_bias, slice(j * C, (j + 1) * C))
            m[p + "attention.output.dense.weight"] = (l.self_attn.out_proj.weight, None)
            m[p + "attention.output.dense.bias"] = (l.self_attn.out_proj.bias, None)
            m[p + "attention.output.LayerNorm.weight"] = (l.norm1.weight, None)
            m[p + "attention.output.LayerNorm.bias"] = (l.norm1.bias, None)
            m[p + "intermediate.dense.weight"] = (l.linear1.weight, None)
            m[p + "intermediate.dense.bias"] = (l.linear1.bias, None)
            m[p + "output.dense.weight"] = (l.linear2.weight, None)
            m[p + "output.dense.bias"] = (l.linear2.bias, None)
            m[p + "output.LayerNorm.weight"] = (l.norm2.weight, None)
            m[p + "output.LayerNorm.bias"] = (l.norm2.bias, None)
        m["bert.pooler.dense.weight"] = (self.pool.weight, None)
        m["bert.pooler.dense.bias"] = (self.pool.bias, None)
        m["cls.predictions.bias"] = (self.mlm_bias, None)
        m["cls.predictions.transform.dense.weight"] = (self.tr.weight, None)
        m["cls.predictions.transform.dense.bias"] = (self.tr.bias, None)
        m["cls.predictions.transform.LayerNorm.weight"] = (self.tr_ln.weight, None)
        m["cls.predictions.transform.LayerNorm.bias"] = (self.tr_ln.bias, None)
        for hn in ("cls.seq_relationship", "classifier", "qa_outputs"):
            m[hn + ".weight"] = (self.head.weight, None)
            m[hn + ".bias"] = (self.head.bias, None)
        return m

    def load(self, params):
        with torch.no_grad():
            for name, (t, sl) in self.mapping().items():
                if name in params:
                    (t if sl is None else t[sl]).copy_(params[name])

    def grad_of(self, name):
        t, sl = self.mapping()[name]
        return t.grad if sl is None else t.grad[sl]


# --------------------------------------------------------------------------
def manual_adamw(params, run_loss, steps):
    p = {k: v.clone() for k, v in params.items()}
    m = {k: torch.zeros_like(v) for k, v in p.items()}
    s = {k: torch.zeros_like(v) for k, v in p.items()}
    lr, (b1, b2), eps, wd = ADAMW["lr"], ADAMW["betas"], ADAMW["eps"], ADAMW["weight_decay"]
    for t in range(1, steps + 1):
        leaf = {k: v.clone().requires_grad_(True) for k, v in p.items()}
        g = dict(zip(p.keys(), torch.autograd.grad(run_loss(leaf), [leaf[k] for k in p])))
        total = math.sqrt(sum(float((x * x).sum()) for x in g.values()))
        coef = min(1.0, CLIP_MAX_NORM / (total + 1e-6))
        for k in p:
            gk = g[k] * coef
            if decays(k, p[k].shape):
                p[k] = p[k] * (1 - lr * wd)
            m[k] = b1 * m[k] + (1 - b1) * gk
            s[k] = b2 * s[k] + (1 - b2) * gk * gk
            p[k] = p[k] - lr * (m[k] / (1 - b1 ** t)) / (torch.sqrt(s[k]) / math.sqrt(1 - b2 ** t) + eps)
    return p


def maxabs(a, b):
    return float((a.double() - b.double()).abs().max())


def make_config_json(cfg):
    j = {
        "architectures": [cfg["arch"]],
        "attention_probs_dropout_prob": 0.0,
        "hidden_act": cfg["hidden_act"],
        "hidden_dropout_prob": 0.0,
        "hidden_size": cfg["hidden_size"],
        "initializer_range": 0.02,
        "intermediate_size": cfg["intermediate_size"],
        "layer_norm_eps": cfg["layer_norm_eps"],
        "max_position_embeddings": cfg["max_position_embeddings"],
        "model_type": "bert",
        "num_attention_heads": cfg["num_attention_heads"],
        "num_hidden_layers": cfg["num_hidden_layers"],
        "pad_token_id": 0,
        "position_embedding_type": "absolute",
        "torch_dtype": "float32",
        "type_vocab_size": cfg["type_vocab_size"],
        "vocab_size": cfg["vocab_size"],
    }
    if cfg["arch"] == "BertForSequenceClassification":
        names = ["negative", "neutral", "positive"][:cfg["num_labels"]]
        j["id2label"] = {str(i): n for i, n in enumerate(names)}
        j["label2id"] = {n: i for i, n in enumerate(names)}
    return j


def f32(t):
    return t.detach().to(torch.float32).contiguous().numpy()


def i32(t):
    return t.detach().to(torch.int32).contiguous().numpy()


def run_config(tag):
    torch.set_default_dtype(torch.float64)
    cfg = CONFIGS[tag]
    gen = torch.Generator().manual_seed(cfg["seed"])
    V, B, T = cfg["vocab_size"], cfg["batch"], cfg["seq"]
    print(f"== bert_tiny_{tag}: {json.dumps(cfg)}")
    params = {k: v.float().double() for k, v in init_params(cfg, gen).items()}  # exactly the F32 file values

    ids = torch.randint(1, V, (B, T), generator=gen)
    tt = torch.randint(0, cfg["type_vocab_size"], (B, T), generator=gen)
    mask = torch.ones(B, T, dtype=torch.long)
    for b, npad in enumerate(cfg["pad"]):
        if npad:
            mask[b, T - npad:] = 0
            ids[b, T - npad:] = 0   # [PAD] = pad_token_id 0
            tt[b, T - npad:] = 0
    lab = {}
    if cfg["arch"] == "BertForPreTraining":
        labels = torch.full((B, T), -100, dtype=torch.long)
        pick = torch.rand(B, T, generator=gen) < 0.3
        pick[:, 0] = True
        pick &= mask.bool()
        labels[pick] = torch.randint(0, V, (int(pick.sum()),), generator=gen)
        lab["labels"] = labels
        lab["next_sentence_label"] = torch.randint(0, 2, (B,), generator=gen)
    elif cfg["arch"] == "BertForSequenceClassification":
        lab["labels"] = torch.randint(0, cfg["num_labels"], (B,), generator=gen)
    else:
        lab["start_positions"] = torch.tensor([2, 1])
        lab["end_positions"] = torch.tensor([5, 4])

    def run_loss(pp):
        return loss_fn(forward(pp, cfg, ids, tt, mask), cfg, lab)

    leaf = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    out = forward(leaf, cfg, ids, tt, mask)
    loss = loss_fn(out, cfg, lab)
    loss.backward()
    grads = {k: v.grad.detach().clone() for k, v in leaf.items()}
    print(f"loss={loss.item():.10f}")

    # ---- self-check 1: nn.Module formulation (TransformerEncoderLayer post-LN + key_padding_mask)
    mod = ModBert(cfg).double()
    mod.load(params)
    om = mod(ids, tt, mask)
    lm = loss_fn(om, cfg, lab)
    lm.backward()
    d_out = max(maxabs(om[k], out[k]) for k in out)
    d_grad = max(maxabs(mod.grad_of(k), grads[k]) for k in params)
    print(f"[check] nn.Module vs primitives: outputs {d_out:.3e}  loss {abs(lm.item() - loss.item()):.3e}  "
          f"grads {d_grad:.3e}")
    assert d_out < 1e-12 and abs(lm.item() - loss.item()) < 1e-12 and d_grad < 1e-12

    # ---- self-check 2: central finite differences on 3 entries of every parameter
    fd_gen = torch.Generator().manual_seed(cfg["seed"] + 1)
    worst = 0.0
    with torch.no_grad():
        for name, v in params.items():
            for j in torch.randint(0, v.numel(), (3,), generator=fd_gen).tolist():
                pp = dict(params)
                w = v.clone().view(-1)
                w[j] += 1e-6
                pp[name] = w.view(v.shape)
                lp = run_loss(pp).item()
                w[j] -= 2e-6
                lmn = run_loss(pp).item()
                worst = max(worst, abs((lp - lmn) / 2e-6 - grads[name].reshape(-1)[j].item()))
    print(f"[check] finite differences (3 entries x {len(params)} params): max|d| = {worst:.3e}")
    assert worst < 1e-7

    # ---- AdamW (torch.optim) with global-norm clipping, same batch each step
    leaf = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    groups = [{"params": [leaf[k] for k in leaf if decays(k, leaf[k].shape)], "weight_decay": ADAMW["weight_decay"]},
              {"params": [leaf[k] for k in leaf if not decays(k, leaf[k].shape)], "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=ADAMW["lr"], betas=ADAMW["betas"], eps=ADAMW["eps"], amsgrad=False,
                            foreach=False)
    step_losses = []
    for _ in range(ADAMW_STEPS):
        opt.zero_grad(set_to_none=True)
        ls = run_loss(leaf)
        ls.backward()
        torch.nn.utils.clip_grad_norm_(list(leaf.values()), CLIP_MAX_NORM)
        step_losses.append(ls.item())
        opt.step()
    man = manual_adamw(params, run_loss, ADAMW_STEPS)
    d_adam = max(maxabs(man[k], leaf[k]) for k in params)
    print(f"AdamW losses {step_losses}; [check] hand-written AdamW vs torch.optim: {d_adam:.3e}")
    assert d_adam < 1e-12

    # ---- write
    out_dir = os.path.join(HERE, f"bert_tiny_{tag}")
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(make_config_json(cfg), f, indent=2, sort_keys=True)
        f.write("\n")
    write_safetensors(os.path.join(out_dir, "model.safetensors"), {k: f32(v) for k, v in params.items()},
                      {"format": "pt"})
    vec = {"input_ids": i32(ids), "token_type_ids": i32(tt), "attention_mask": i32(mask),
           "loss": f32(loss.reshape(1))}
    for k, v in lab.items():
        vec[k] = i32(v)
    for k, v in out.items():
        vec[k] = f32(v)
    for k, g in grads.items():
        vec["grad." + k] = f32(g)
    for i, l in enumerate(step_losses):
        vec[f"loss_step{i}"] = f32(torch.tensor([l]))
    for k, v in leaf.items():
        vec["adamw." + k] = f32(v)
    meta = {"generator": "tests/reference/gen_bert.py", "command": "/usr/bin/python3 tests/reference/gen_bert.py",
            "torch_version": torch.__version__, "config": json.dumps(cfg, sort_keys=True),
            "compute_dtype": "float64 (outputs cast to float32)",
            "adamw": json.dumps({**ADAMW, "steps": ADAMW_STEPS, "clip_grad_norm_max_norm": CLIP_MAX_NORM,
                                 "decay": "2-D weights except embeddings"})}
    vpath = os.path.join(out_dir, "vectors.safetensors")
    write_safetensors(vpath, vec, meta)
    rt, rmeta = read_safetensors(vpath)
    assert set(rt) == set(vec) and rmeta == meta
    for k in vec:
        assert (rt[k] == vec[k]).all(), k
    rtm, _ = read_safetensors(os.path.join(out_dir, "model.safetensors"))
    assert set(rtm) == set(params) and "cls.predictions.decoder.weight" not in rtm
    print(f"[check] safetensors round-trip OK: {vpath}")


def main():
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, python {sys.version.split()[0]}")
    for tag in CONFIGS:
        run_config(tag)


if __name__ == "__main__":
    main()
