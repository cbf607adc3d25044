#!/usr/bin/env python3
"""Writes a random PEFT LoRA adapter directory (adapter_config.json + adapter_model.safetensors) for a small
gpt2 or bert model directory, as PeftModel.save_pretrained lays it out: tensors
base_model.model.<module>.lora_A.weight (r, in) and .lora_B.weight (out, r), float32. A and B are both drawn
non-zero (PEFT initialises B to zero; a zero B would leave the model unchanged), so the adapter visibly changes the
model's outputs. Standard library only (the safetensors file is written by hand: an 8-byte little-endian header
length, the JSON header, then the raw tensor bytes).

    tests/reference/gen_lora_adapter.py MODEL_DIR OUT_DIR [--seed S] [--r R] [--alpha A] [--targets M1,M2]

Used by tests/server/run.sh; the C++ e2e tests make their adapters with the library instead.
"""
import argparse
import json
import os
import random
import struct


def modules(cfg, targets):
    """(module path, in_features, out_features) of every targeted linear module, in layer order; a target matches
    a module path equal to it or ending in "." + target (PEFT's rule)."""
    every = []
    if cfg["model_type"] == "gpt2":
        c = cfg["n_embd"]
        inner = cfg.get("n_inner") or 4 * c
        for layer in range(cfg["n_layer"]):
            n = f"transformer.h.{layer}."
            every += [(n + "attn.c_attn", c, 3 * c), (n + "attn.c_proj", c, c), (n + "mlp.c_fc", c, inner),
                      (n + "mlp.c_proj", inner, c)]
    elif cfg["model_type"] == "bert":
        h = cfg["hidden_size"]
        arch = (cfg.get("architectures") or ["BertModel"])[0]
        prefix = "" if arch == "BertModel" else "bert."
        for layer in range(cfg["num_hidden_layers"]):
            n = f"{prefix}encoder.layer.{layer}.attention.self."
            every += [(n + "query", h, h), (n + "key", h, h), (n + "value", h, h)]
    else:
        raise SystemExit(f"unsupported model_type {cfg['model_type']}")
    return [m for m in every if any(m[0] == t or m[0].endswith("." + t) for t in targets)]


def write_safetensors(path, tensors):
    header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    for name, shape, values in tensors:
        data = struct.pack(f"<{len(values)}f", *values)
        header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("model")
    p.add_argument("out")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--r", type=int, default=4)
    p.add_argument("--alpha", type=float, default=8.0)
    p.add_argument("--targets", default="")
    a = p.parse_args()
    with open(os.path.join(a.model, "config.json")) as f:
        cfg = json.load(f)
    gpt = cfg["model_type"] == "gpt2"
    targets = a.targets.split(",") if a.targets else (["c_attn", "c_proj"] if gpt else ["query", "value"])
    rng = random.Random(a.seed)
    tensors = []
    for path, i, o in modules(cfg, targets):
        bound = 1.0 / i ** 0.5
        tensors.append((f"base_model.model.{path}.lora_A.weight", (a.r, i),
                        [rng.uniform(-bound, bound) for _ in range(a.r * i)]))
        tensors.append((f"base_model.model.{path}.lora_B.weight", (o, a.r),
                        [rng.uniform(-0.5, 0.5) for _ in range(o * a.r)]))
    os.makedirs(a.out, exist_ok=True)
    write_safetensors(os.path.join(a.out, "adapter_model.safetensors"), tensors)
    config = {"peft_type": "LORA", "r": a.r, "lora_alpha": a.alpha, "lora_dropout": 0.0, "bias": "none",
              "target_modules": targets, "fan_in_fan_out": gpt, "modules_to_save": None,
              "task_type": "CAUSAL_LM" if gpt else "FEATURE_EXTRACTION", "base_model_name_or_path": a.model}
    with open(os.path.join(a.out, "adapter_config.json"), "w") as f:
        json.dump(config, f, indent=2)


if __name__ == "__main__":
    main()
