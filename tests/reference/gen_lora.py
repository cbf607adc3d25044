#!/usr/bin/python3
"""Generate LoRA (HF PEFT) reference adapters and test vectors for lmcpp, independent of lmcpp code.

Run from the repository root:  /usr/bin/python3 tests/reference/gen_lora.py

LoRA is written here in plain PyTorch with PEFT's conventions (peft.tuners.lora.layer.Linear), no `peft`:
  out = base(x) + scaling * lora_B(lora_A(dropout(x))),  scaling = lora_alpha / r  (use_rslora: lora_alpha / sqrt(r))
with lora_A.weight [r, in] and lora_B.weight [out, r] also for GPT-2's Conv1D (fan_in_fan_out: the base weight is
[in, out], the merged delta is (B @ A)^T). A module is a target when its path equals an entry of target_modules or
ends with "." + entry. PEFT's init is A ~ kaiming_uniform_(a=sqrt(5)) = U(-1/sqrt(in), 1/sqrt(in)), B = 0; here B is
random instead so that the adapter changes the outputs. modules_to_save (the BERT classifier) is a trained copy of
the whole module, saved as base_model.model.<param name>; here it is the base classifier plus noise.

The base models are the committed float32 tiny references (gpt2_tiny_a, gpt2_tiny_b, bert_tiny_cls), run by the
torch-primitive forwards of gen_gpt2.py / gen_bert.py (imported; their `conv1d` / `linear` helpers are wrapped to
add the adapter term), on the inputs of their own vectors.safetensors. All math is float64 on weights that are
exactly float32 values; outputs are cast to float32 like the other goldens.

Self-checks (asserted): with B = 0 the logits equal the base's committed golden logits; the merged formulation
(W + delta, no adapter term) gives the same logits, loss and adapter/classifier gradients (chain rule through the
merged weight, an independent derivation); central finite differences on entries of every trained tensor; the
A init bound equals torch.nn.init's kaiming_uniform_(a=sqrt(5)) bound; both files round-trip through the reader.
"""

import json
import math
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gen_bert  # noqa: E402
import gen_gpt2  # noqa: E402
from gen_gpt2 import read_safetensors, write_safetensors  # noqa: E402

PREFIX = "base_model.model."

CASES = [
    # GPT-2 config A: c_attn (a suffix) and mlp.c_fc (a dotted suffix), r=4, alpha=8 -> scaling 2.
    dict(name="gpt2_lora_a", base="gpt2_tiny_a", family="gpt2", r=4, alpha=8, rslora=False,
         targets=["c_attn", "mlp.c_fc"], save=None, task="CAUSAL_LM", seed=7001, peft_keys="0.13"),
    # GPT-2 config B (3 layers, n_inner 80, ignored targets): rsLoRA r=8, alpha=16 -> scaling 16/sqrt(8);
    # "c_proj" matches attn.c_proj and mlp.c_proj.
    dict(name="gpt2_lora_rs", base="gpt2_tiny_b", family="gpt2", r=8, alpha=16, rslora=True,
         targets=["c_attn", "c_proj"], save=None, task="CAUSAL_LM", seed=7002, peft_keys="0.13"),
    # BERT sequence classification: query/value (row blocks of lmcpp's fused qkv), r=4, alpha=12 -> scaling 3,
    # and the classifier in modules_to_save (PEFT's SEQ_CLS adds "classifier", "score").
    dict(name="bert_lora_cls", base="bert_tiny_cls", family="bert", r=4, alpha=12, rslora=False,
         targets=["query", "value"], save=["classifier", "score"], task="SEQ_CLS", seed=7003, peft_keys="0.15"),
]

# id(base weight tensor) -> (A, B, scaling): the adapter term of the wrapped linear helpers below.
_ADAPTERS = {}


def _adapter_term(x, w):
    ad = _ADAPTERS.get(id(w))
    if ad is None:
        return 0.0
    a, b, scaling = ad
    return ((x @ a.t()) @ b.t()) * scaling      # lora_B(lora_A(dropout(x))) * scaling; dropout p = 0 (eval)


_conv1d, _linear = gen_gpt2.conv1d, gen_bert.linear
gen_gpt2.conv1d = lambda x, w, b: _conv1d(x, w, b) + _adapter_term(x, w)
gen_bert.linear = lambda x, w, b: _linear(x, w, b) + _adapter_term(x, w)


def linear_modules(family, cfg):
    """Every nn.Linear / Conv1D module path of the HF model, with (in, out)."""
    out = []
    if family == "gpt2":
        E = cfg["n_embd"]
        I = cfg["n_inner"] or 4 * E
        for i in range(cfg["n_layer"]):
            q = f"transformer.h.{i}."
            out += [(q + "attn.c_attn", E, 3 * E), (q + "attn.c_proj", E, E), (q + "mlp.c_fc", E, I),
                    (q + "mlp.c_proj", I, E)]
        out.append(("lm_head", E, cfg["vocab_size"]))
    else:
        C, I = cfg["hidden_size"], cfg["intermediate_size"]
        for i in range(cfg["num_hidden_layers"]):
            q = f"bert.encoder.layer.{i}."
            out += [(q + "attention.self.query", C, C), (q + "attention.self.key", C, C),
                    (q + "attention.self.value", C, C), (q + "attention.output.dense", C, C),
                    (q + "intermediate.dense", C, I), (q + "output.dense", I, C)]
        out += [("bert.pooler.dense", C, C), ("classifier", C, cfg["num_labels"])]
    return out


def is_target(module, targets):
    """PEFT's check_target_module_exists for a list: exact match or a '.'-separated suffix."""
    return any(module == t or module.endswith("." + t) for t in targets)


def kaiming_bound(fan_in):
    gain = torch.nn.init.calculate_gain("leaky_relu", math.sqrt(5))
    return gain * math.sqrt(3.0 / fan_in)


def adapter_config(case, base_cfg_name):
    """adapter_config.json as PEFT's save_pretrained writes it (json.dumps(indent=2, sort_keys=True))."""
    j = {"alpha_pattern": {}, "auto_mapping": None, "base_model_name_or_path": base_cfg_name, "bias": "none",
         "fan_in_fan_out": case["family"] == "gpt2", "inference_mode": True, "init_lora_weights": True,
         "layer_replication": None, "layers_pattern": None, "layers_to_transform": None, "loftq_config": {},
         "lora_alpha": case["alpha"], "lora_dropout": 0.0, "megatron_config": None, "megatron_core": "megatron.core",
         "modules_to_save": case["save"], "peft_type": "LORA", "r": case["r"], "rank_pattern": {}, "revision": None,
         "target_modules": case["targets"], "task_type": case["task"], "use_dora": False,
         "use_rslora": case["rslora"]}
    if case["peft_keys"] == "0.15":  # keys newer PEFT versions add
        j.update({"corda_config": None, "eva_config": None, "exclude_modules": None, "lora_bias": False,
                  "trainable_token_indices": None})
    return json.dumps(j, indent=2, sort_keys=True) + "\n"


def load_base(case):
    d = os.path.join(HERE, case["base"])
    w, _ = read_safetensors(os.path.join(d, "model.safetensors"))
    v, _ = read_safetensors(os.path.join(d, "vectors.safetensors"))
    params = {k: torch.from_numpy(a.copy()).double() for k, a in w.items()}
    vec = {k: torch.from_numpy(a.copy()) for k, a in v.items()}
    with open(os.path.join(d, "config.json")) as f:
        hf = json.load(f)
    return params, vec, hf


def make_run(case, hf, vec):
    """(forward(params) -> main output, loss(output), inputs to store)."""
    if case["family"] == "gpt2":
        tag = {"gpt2_tiny_a": "A", "gpt2_tiny_b": "B"}[case["base"]]
        cfg = gen_gpt2.CONFIGS[tag]
        assert all(hf[k] == cfg[k] for k in ("vocab_size", "n_embd", "n_layer", "n_head", "n_inner"))
        ids, tg = vec["input_ids"].long(), vec["targets"].long()
        return (lambda p: gen_gpt2.forward(p, cfg, ids)), (lambda out: gen_gpt2.loss_fn(out, tg)), \
            {"input_ids": vec["input_ids"], "targets": vec["targets"]}, dict(cfg)
    cfg = gen_bert.CONFIGS["cls"]
    assert all(hf[k] == cfg[k] for k in ("vocab_size", "hidden_size", "num_hidden_layers", "intermediate_size"))
    ids, tt, mask = vec["input_ids"].long(), vec["token_type_ids"].long(), vec["attention_mask"].long()
    lab = vec["labels"].long()
    return (lambda p: gen_bert.forward(p, cfg, ids, tt, mask)["logits"]), (lambda out: gen_bert.ce(out, lab)), \
        {k: vec[k] for k in ("input_ids", "token_type_ids", "attention_mask", "labels")}, dict(cfg)


def weight_name(module):
    return module + ".weight"


def delta_hf(case, a, b, scaling):
    """PEFT's get_delta_weight: transpose(B @ A, fan_in_fan_out) * scaling, in the base weight's HF layout."""
    d = (b @ a) * scaling
    return d.t() if case["family"] == "gpt2" else d


def run_case(case):
    torch.set_default_dtype(torch.float64)
    gen = torch.Generator().manual_seed(case["seed"])
    base, vec, hf = load_base(case)
    fwd, loss_of, inputs, cfg = make_run(case, hf, vec)
    r, alpha = case["r"], case["alpha"]
    scaling = alpha / math.sqrt(r) if case["rslora"] else alpha / r
    print(f"== {case['name']}: base {case['base']}, r={r} alpha={alpha} rslora={case['rslora']} "
          f"scaling={scaling:.6f} targets={case['targets']} modules_to_save={case['save']}")

    # ---- the adapter tensors (PEFT names and shapes), exactly float32 values
    trained = {}          # PEFT name -> float64 tensor
    modules = []          # (module path, A name, B name)
    for module, fin, fout in linear_modules(case["family"], cfg):
        if not is_target(module, case["targets"]):
            continue
        bound = kaiming_bound(fin)
        assert abs(bound - 1.0 / math.sqrt(fin)) < 1e-12
        a = (torch.rand(r, fin, generator=gen) * 2 - 1) * bound
        # B: PEFT starts at 0; non-zero here, sized so that delta W is about the base weights' std (0.02).
        b_std = 0.02 / (scaling * math.sqrt(r) * bound / math.sqrt(3.0))
        b = torch.randn(fout, r, generator=gen) * b_std
        an, bn = PREFIX + module + ".lora_A.weight", PREFIX + module + ".lora_B.weight"
        trained[an], trained[bn] = a.float().double(), b.float().double()
        modules.append((module, an, bn))
    for name in sorted(base):
        mod = name.rsplit(".", 1)[0]
        if case["save"] and is_target(mod, case["save"]):
            trained[PREFIX + name] = (base[name] + 0.02 * torch.randn(base[name].shape, generator=gen)).float().double()
    print(f"adapted modules: {len(modules)}, trained tensors: {len(trained)}, "
          f"trainable parameters: {sum(t.numel() for t in trained.values())}")

    def params_with(tr, merged):
        p = dict(base)
        for k, t in tr.items():
            if not k.endswith((".lora_A.weight", ".lora_B.weight")):
                p[k[len(PREFIX):]] = t
        _ADAPTERS.clear()
        for module, an, bn in modules:
            w = weight_name(module)
            if merged:
                p[w] = base[w] + delta_hf(case, tr[an], tr[bn], scaling)
            else:
                p[w] = base[w].clone()      # a distinct object per run: the adapter registry is keyed by id
                _ADAPTERS[id(p[w])] = (tr[an], tr[bn], scaling)
        return p

    # ---- self-check 0: B = 0 reproduces the base model's committed golden logits
    zero_b = {k: (torch.zeros_like(t) if k.endswith("lora_B.weight") else t) for k, t in trained.items()}
    zero_b = {k: (base[k[len(PREFIX):]] if not k.endswith(("lora_A.weight", "lora_B.weight")) else t)
              for k, t in zero_b.items()}
    with torch.no_grad():
        d0 = (fwd(params_with(zero_b, False)) - vec["logits"].double()).abs().max().item()
    print(f"[check] B=0 vs the base's golden logits (float32 file): {d0:.3e}")
    assert d0 < 1e-6

    # ---- the reference: adapter formulation, autograd
    leaf = {k: t.clone().requires_grad_(True) for k, t in trained.items()}
    logits = fwd(params_with(leaf, False))
    loss = loss_of(logits)
    loss.backward()
    grads = {k: t.grad.detach().clone() for k, t in leaf.items()}
    with torch.no_grad():
        base_logits = fwd(params_with(zero_b, False))
    print(f"loss={loss.item():.10f}  adapter moves logits by max {(logits - base_logits).abs().max().item():.3e}")

    # ---- self-check 1: merged formulation (W + delta W), gradients through the merged weight
    leaf2 = {k: t.clone().requires_grad_(True) for k, t in trained.items()}
    logits2 = fwd(params_with(leaf2, True))
    loss2 = loss_of(logits2)
    loss2.backward()
    d_lg = (logits2 - logits).abs().max().item()
    d_gr = max((leaf2[k].grad - grads[k]).abs().max().item() for k in trained)
    print(f"[check] merged vs adapter formulation: logits {d_lg:.3e} loss {abs(loss2.item() - loss.item()):.3e} "
          f"grads {d_gr:.3e}")
    assert d_lg < 1e-12 and abs(loss2.item() - loss.item()) < 1e-12 and d_gr < 1e-12

    # ---- self-check 2: central finite differences on 3 entries of every trained tensor
    fd_gen = torch.Generator().manual_seed(case["seed"] + 1)
    worst = 0.0
    with torch.no_grad():
        for k, t in trained.items():
            for _ in range(3):
                j = int(torch.randint(0, t.numel(), (1,), generator=fd_gen))
                h = 1e-6
                tp = dict(trained)
                tp[k] = t.clone().view(-1)
                tp[k][j] += h
                tp[k] = tp[k].view(t.shape)
                lp = loss_of(fwd(params_with(tp, False))).item()
                tp[k] = tp[k].view(-1)
                tp[k][j] -= 2 * h
                tp[k] = tp[k].view(t.shape)
                lm = loss_of(fwd(params_with(tp, False))).item()
                worst = max(worst, abs((lp - lm) / (2 * h) - grads[k].view(-1)[j].item()))
    print(f"[check] finite differences (h=1e-6) vs autograd: max abs diff {worst:.3e}")
    assert worst < 1e-8

    # ---- merged weights (HF layout) of every adapted module of layer 0 and of the last adapted module
    merged = {}
    for i, (module, an, bn) in enumerate(modules):
        if ".0." in module or i == len(modules) - 1:
            w = weight_name(module)
            merged["merged." + w] = base[w] + delta_hf(case, trained[an], trained[bn], scaling)
    return write_case(case, trained, grads, logits, loss, merged, inputs, scaling, modules)


def write_case(case, trained, grads, logits, loss, merged, inputs, scaling, modules):
    out_dir = os.path.join(HERE, case["name"])
    os.makedirs(out_dir, exist_ok=True)
    f32 = gen_gpt2.f32
    adapter = {k: f32(t) for k, t in trained.items()}
    write_safetensors(os.path.join(out_dir, "adapter_model.safetensors"), adapter, {"format": "pt"})
    with open(os.path.join(out_dir, "adapter_config.json"), "w") as f:
        f.write(adapter_config(case, case["base"]))
    vec = {k: t.numpy() for k, t in inputs.items()}
    vec["logits"] = f32(logits)
    vec["loss"] = f32(loss.reshape(1))
    vec["scaling"] = f32(torch.tensor([scaling]))
    for k, g in grads.items():
        vec["grad." + k] = f32(g)
    for k, w in merged.items():
        vec[k] = f32(w)
    meta = {"generator": "tests/reference/gen_lora.py", "command": "/usr/bin/python3 tests/reference/gen_lora.py",
            "torch": torch.__version__, "base": case["base"], "seed": case["seed"],
            "adapted_modules": " ".join(m for m, _, _ in modules),
            "notes": "float64 reference, cast to float32; eval (lora_dropout 0); logits/loss/grads with the "
                     "adapter unmerged; merged.* in HF layout (Conv1D [in,out])"}
    write_safetensors(os.path.join(out_dir, "vectors.safetensors"), vec, meta)
    # ---- self-check 3: round trip through the reader
    back, m = read_safetensors(os.path.join(out_dir, "adapter_model.safetensors"))
    assert m == {"format": "pt"} and set(back) == set(adapter)
    assert all((back[k] == adapter[k]).all() for k in adapter)
    back, _ = read_safetensors(os.path.join(out_dir, "vectors.safetensors"))
    assert all((back[k] == vec[k]).all() for k in vec)
    print(f"[check] safetensors round trip ok; wrote {out_dir} ({len(adapter)} adapter tensors, {len(vec)} vectors)")


def main():
    torch.set_num_threads(1)
    for case in CASES:
        run_case(case)


if __name__ == "__main__":
    main()
