#!/usr/bin/python3
"""Reference vectors for ggml's Q8_0 and Q4_0 blocks, written with numpy only from the formulas of ggml's reference
quantizers (quantize_row_q8_0_ref, quantize_row_q4_0_ref, dequantize_row_q8_0/q4_0), nothing from lmcpp.

Usage (from the repository root): /usr/bin/python3 tests/reference/gen_gguf_quant.py  (Debian numpy)
Writes tests/io/data/gguf_quant_vectors.json; deterministic (fixed seeds), so reruns give the same bytes.

All arithmetic is float32 as in C (numpy float32 scalars and arrays), fp16 rounding is numpy's float32 -> float16
cast (round to nearest even, with subnormals). Rounding rules are spelled out below because numpy's own round()
rounds halves to even while C's roundf rounds them away from zero.
  Q8_0 block of 32: amax = max|x|; d = amax / 127; id = d ? 1/d : 0; stored fp16(d); q = roundf(x * id)
                    bytes: fp16 d (LE), int8 q[32];                         dequant x = q * f32(fp16 d)
  Q4_0 block of 32: m = the first x with the largest |x|; d = m / -8; id = d ? 1/d : 0; stored fp16(d)
                    q = min(15, (int)(x * id + 8.5))  ((int) truncates toward zero)
                    bytes: fp16 d (LE), qs[16] with qs[j] = q[j] | q[16 + j] << 4;   dequant x = (q - 8) * f32(fp16 d)
"""
import json
import os

import numpy as np

F32 = np.float32
QK = 32


def f16_bits(x):
    return int(np.array([x], dtype=np.float32).astype(np.float16).view(np.uint16)[0])


def f16_value(bits):
    return np.array([bits], dtype=np.uint16).view(np.float16).astype(np.float32)[0]


def roundf(v):
    """C roundf on float32 values: halves away from zero. |v| + 0.5 is exact in float64 for float32 v."""
    a = np.abs(v.astype(np.float64))
    return (np.sign(v.astype(np.float64)) * np.floor(a + 0.5)).astype(np.int64)


def q8_0(x):
    out, deq = bytearray(), []
    for b in range(0, len(x), QK):
        xb = x[b:b + QK]
        amax = F32(np.max(np.abs(xb)))
        d = F32(amax / F32(127))
        inv = F32(F32(1) / d) if d != 0 else F32(0)
        dh = f16_bits(d)
        q = roundf((xb * inv).astype(np.float32))
        assert q.min() >= -127 and q.max() <= 127
        out += dh.to_bytes(2, "little") + q.astype(np.int8).tobytes()
        deq += list((q.astype(np.float32) * f16_value(dh)).astype(np.float32))
    return bytes(out), deq


def q4_0(x):
    out = bytearray()
    for b in range(0, len(x), QK):
        xb = x[b:b + QK]
        amax, m = F32(0), F32(0)
        for v in xb:
            if amax < abs(v):
                amax, m = F32(abs(v)), F32(v)
        d = F32(m / F32(-8))
        inv = F32(F32(1) / d) if d != 0 else F32(0)
        t = ((xb * inv).astype(np.float32) + F32(8.5)).astype(np.float32)
        q = np.minimum(15, np.trunc(t.astype(np.float64)).astype(np.int64))
        assert q.min() >= 0
        qs = (q[:16] | (q[16:] << 4)).astype(np.uint8)
        out += f16_bits(d).to_bytes(2, "little") + qs.tobytes()
    return bytes(out)


def q4_0_dequant(data):
    deq = []
    for b in range(0, len(data), 18):
        d = f16_value(int.from_bytes(data[b:b + 2], "little"))
        qs = np.frombuffer(data[b + 2:b + 18], dtype=np.uint8).astype(np.int64)
        q = np.concatenate([qs & 0x0F, qs >> 4]) - 8
        deq += list((q.astype(np.float32) * d).astype(np.float32))
    return deq


def floats(a):
    return [float(v) for v in a]


def q8_0_inputs():
    rng = np.random.default_rng(1234)
    ties = np.array([127, 2.5, -2.5, 0.5, -0.5, 1.5, -1.5, 126.5, -126.5, 3.5, -3.5, 0] + list(range(-10, 10)),
                     dtype=np.float32)  # amax 127: d = 1, id = 1, so x * id = x exactly
    ties_half = np.array([63.5, 1.25, -1.25, 0.25, -0.25, 0.75, -0.75, 62.75, -62.75] + [0.5 * i for i in range(23)],
                         dtype=np.float32)  # amax 63.5: d = 0.5, id = 2
    neg = rng.normal(0, 1, QK).astype(np.float32)
    neg[7] = F32(-7.3)  # the largest |x| is negative: q = -127 there
    return [
        ("random_normal_3_blocks", rng.normal(0, 1, 3 * QK).astype(np.float32)),
        ("random_uniform_scaled", (rng.uniform(-1, 1, 2 * QK) * np.array([1e-3] * QK + [250.0] * QK)).astype(np.float32)),
        ("ties_d1", ties),
        ("ties_d0.5", ties_half),
        ("zeros", np.zeros(QK, dtype=np.float32)),
        ("negative_amax", neg),
        ("subnormal_fp16_d", (rng.normal(0, 1, QK) * 1e-4).astype(np.float32)),
        ("fp16_d_flushes_to_zero", (rng.normal(0, 1, QK) * 1e-7).astype(np.float32)),
        ("large", (rng.normal(0, 1, QK) * 1e6).astype(np.float32)),
    ]


def q4_0_inputs():
    rng = np.random.default_rng(4321)
    ties = np.array([-8, -0.5, 0.5, 7, 7.5, -7.5, 1.5, -1.5] + [0.5 * i - 6 for i in range(24)], dtype=np.float32)
    pos = rng.normal(0, 1, QK).astype(np.float32)
    pos[20] = F32(5.0)  # largest |x| positive: d negative
    neg = rng.normal(0, 1, QK).astype(np.float32)
    neg[3] = F32(-6.0)
    return [
        ("random_normal_2_blocks", rng.normal(0, 1, 2 * QK).astype(np.float32)),
        ("ties_d1", ties),
        ("zeros", np.zeros(QK, dtype=np.float32)),
        ("positive_max", pos),
        ("negative_max", neg),
        ("first_of_equal_abs", np.array([3.0, -3.0] + [0.1] * 30, dtype=np.float32)),
    ]


def main():
    cases = {"q8_0": [], "q4_0": [], "q4_0_bytes": []}
    for name, x in q8_0_inputs():
        data, deq = q8_0(x)
        cases["q8_0"].append({"name": name, "input": floats(x), "bytes": data.hex(), "dequant": floats(deq)})
    for name, x in q4_0_inputs():
        data = q4_0(x)
        cases["q4_0"].append({"name": name, "input": floats(x), "bytes": data.hex(), "dequant": floats(q4_0_dequant(data))})
    rng = np.random.default_rng(99)
    raw = bytearray()
    for d in (0.0123, -2.5, 1e-5, 3000.0):  # random nibbles under assorted scales (incl. a negative and subnormal d)
        raw += f16_bits(F32(d)).to_bytes(2, "little") + rng.integers(0, 256, 16, dtype=np.uint8).tobytes()
    cases["q4_0_bytes"].append({"name": "random_nibbles_4_blocks", "bytes": bytes(raw).hex(),
                                "dequant": floats(q4_0_dequant(bytes(raw)))})
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = os.path.join(root, "io", "data", "gguf_quant_vectors.json")
    doc = {"generator": "tests/reference/gen_gguf_quant.py", "numpy": np.__version__, **cases}
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
