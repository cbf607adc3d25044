#!/usr/bin/env python3
"""Writes an lmcpp/HF GPT-2 directory (config.json + model.safetensors) as a llama.cpp GGUF file, for the
side-by-side inference benchmark (bench/infer_vs_llamacpp.sh). llama.cpp's own convert_hf_to_gguf.py needs
`transformers` for the tokenizer; this script does the same mapping (conversion/gpt2.py: Conv1D weights
transposed to (out, in), HF names -> gpt2 GGUF names, 2-D tensors in f16 for --type f16) with only numpy and
llama.cpp's gguf-py (pass its directory with --gguf-py), and takes the vocabulary and merges from an OpenAI
GPT-2 tokenizer directory (encoder.json + vocab.bpe).

usage: make_gguf.py --model DIR --tokenizer DIR --out FILE.gguf [--type f32|f16] --gguf-py LLAMA_CPP/gguf-py
"""
import argparse
import json
import os
import struct
import sys

import numpy as np


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        base = 8 + n
    data = np.memmap(path, dtype=np.uint8, mode="r")
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        assert e["dtype"] == "F32", f"{name}: {e['dtype']} (expected F32)"
        b, t = e["data_offsets"]
        out[name] = np.frombuffer(data[base + b:base + t], dtype=np.float32).reshape(e["shape"])
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--tokenizer", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--type", choices=["f32", "f16"], default="f32")
    ap.add_argument("--gguf-py", required=True)
    a = ap.parse_args()
    sys.path.insert(0, a.gguf_py)
    import gguf  # noqa: E402

    cfg = json.load(open(os.path.join(a.model, "config.json")))
    t = read_safetensors(os.path.join(a.model, "model.safetensors"))
    t = {k[len("transformer."):] if k.startswith("transformer.") else k: v for k, v in t.items()}
    L, C = cfg["n_layer"], cfg["n_embd"]
    inner = cfg.get("n_inner") or 4 * C

    w = gguf.GGUFWriter(a.out, "gpt2")
    w.add_name("lmcpp-random-gpt2")
    w.add_block_count(L)
    w.add_context_length(cfg["n_positions"])
    w.add_embedding_length(C)
    w.add_feed_forward_length(inner)
    w.add_head_count(cfg["n_head"])
    w.add_layer_norm_eps(cfg.get("layer_norm_epsilon", 1e-5))
    w.add_file_type(gguf.LlamaFileType.ALL_F32 if a.type == "f32" else gguf.LlamaFileType.MOSTLY_F16)

    enc = json.load(open(os.path.join(a.tokenizer, "encoder.json"), encoding="utf-8"))
    tokens = [None] * len(enc)
    for s, i in enc.items():
        tokens[i] = s
    V = cfg["vocab_size"]
    assert len(tokens) == V, f"tokenizer has {len(tokens)} tokens, model {V}"
    merges = [ln.rstrip("\n") for ln in open(os.path.join(a.tokenizer, "vocab.bpe"), encoding="utf-8")
              if ln.strip() and not ln.startswith("#version")]
    eos = cfg.get("eos_token_id", V - 1)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("gpt-2")
    w.add_token_list(tokens)
    w.add_token_types([gguf.TokenType.CONTROL if i == eos else gguf.TokenType.NORMAL for i in range(V)])
    w.add_token_merges(merges)
    w.add_bos_token_id(cfg.get("bos_token_id", eos))
    w.add_eos_token_id(eos)

    def put(name, arr):
        arr = np.ascontiguousarray(arr)
        if a.type == "f16" and arr.ndim == 2:
            arr = arr.astype(np.float16)
        w.add_tensor(name, arr)

    put("token_embd.weight", t["wte.weight"])
    put("position_embd.weight", t["wpe.weight"])
    put("output_norm.weight", t["ln_f.weight"])
    put("output_norm.bias", t["ln_f.bias"])
    for i in range(L):
        p = f"h.{i}."
        q = f"blk.{i}."
        put(q + "attn_norm.weight", t[p + "ln_1.weight"])
        put(q + "attn_norm.bias", t[p + "ln_1.bias"])
        put(q + "attn_qkv.weight", t[p + "attn.c_attn.weight"].T)  # HF Conv1D (in, out) -> (out, in)
        put(q + "attn_qkv.bias", t[p + "attn.c_attn.bias"])
        put(q + "attn_output.weight", t[p + "attn.c_proj.weight"].T)
        put(q + "attn_output.bias", t[p + "attn.c_proj.bias"])
        put(q + "ffn_norm.weight", t[p + "ln_2.weight"])
        put(q + "ffn_norm.bias", t[p + "ln_2.bias"])
        put(q + "ffn_up.weight", t[p + "mlp.c_fc.weight"].T)
        put(q + "ffn_up.bias", t[p + "mlp.c_fc.bias"])
        put(q + "ffn_down.weight", t[p + "mlp.c_proj.weight"].T)
        put(q + "ffn_down.bias", t[p + "mlp.c_proj.bias"])
    # No output.weight: llama.cpp's gpt2 then uses token_embd as the (tied) LM head, as HF does.
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    print(f"wrote {a.out} ({a.type})")


if __name__ == "__main__":
    main()
