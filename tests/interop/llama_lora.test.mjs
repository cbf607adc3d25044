// lmcpp's LoRA adapter GGUFs (`lmcpp export --adapter`) applied by llama.cpp (node-llama-cpp 3.22.1's prebuilt
// linux-x64 CPU library) on lmcpp's base exports:
//   - a GPT-2 with an rsLoRA adapter on every linear module (r 8) and with a plain LoRA on c_attn (r 4): llama.cpp's
//     greedy continuation equals `lmcpp generate --greedy --adapter` token for token (forks only where lmcpp's
//     top-2 logits are a near-tie), and differs from the base model's (the adapter matters, and at PEFT's scale:
//     llama.cpp's alpha / r must equal lora_alpha / √r for rsLoRA);
//   - f16 / bf16 / q8_0 adapter files agree with lmcpp's f32 adapter on top-1 at >= 99% of decisive positions;
//   - a BERT with LoRA on query, value and intermediate.dense: llama.cpp's mean-pooled embedding equals
//     `lmcpp embed --adapter` within 1% of the adapter's effect (lmcpp with minus lmcpp without);
//   - an adapter with modules_to_save (a classifier trained whole) is refused: exit 2, one line, no file.
// Environment (tests/interop/llama_lora_run.sh sets it up): LMCPP_BIN, the binary; LMCPP_LLAMA_DIR, the folder with
// the models, adapters and exports.

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const here = path.dirname(new URL(import.meta.url).pathname);
const nm = path.join(here, '../node/node_modules');
const bin = process.env.LMCPP_BIN;
const dir = process.env.LMCPP_LLAMA_DIR;
const skip = !bin || !dir ? 'LMCPP_BIN / LMCPP_LLAMA_DIR not set (run tests/interop/llama_lora_run.sh BIN)' : false;
const at = (name) => path.join(dir ?? '', name);
const V = 50257;

function lmcpp(args, input) {
  const r = spawnSync(bin, args, { input, encoding: 'utf8', maxBuffer: 512 << 20 });
  assert.equal(r.status, 0, `lmcpp ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}
const ids = (line) => (line.trim() ? line.trim().split(' ').map(Number) : []);
const tokenize = (text) => ids(lmcpp(['tokenize', '--tokenizer', at('gptr'), '--input', 'jsonl'], JSON.stringify(text) + '\n').split('\n')[0]);

// The logits [T, V] of `lmcpp forward` (float32 safetensors, one tensor).
function lmcppLogits(args, tokens, name) {
  const file = at(`${name}.safetensors`);
  lmcpp(['forward', ...args, '--ids', tokens.join(','), '--out', file]);
  const buf = readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const [b, e] = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')).logits.data_offsets;
  const bytes = buf.subarray(8 + n + b, 8 + n + e);
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
}
function argmaxRows(data) {
  const out = [];
  for (let r = 0; r * V < data.length; ++r) {
    let best = 0;
    for (let v = 1; v < V; ++v) if (data[r * V + v] > data[r * V + best]) best = v;
    out.push(best);
  }
  return out;
}
const cosine = (a, b) => {
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < a.length; ++i) { ab += a[i] * b[i]; aa += a[i] * a[i]; bb += b[i] * b[i]; }
  return ab / Math.sqrt(aa * bb);
};

const prompts = ['Hello world', 'The meaning of life is', 'def main():\n    return', 'Once upon a time', 'In 1990, the',
  'She said', 'import numpy as np', 'The capital of France'];
// llama.cpp's CPU GELU is an f16 table, so its logits differ from lmcpp's by ~5e-3: greedy text may fork where
// lmcpp's two best logits are closer than that (as in llama_cpp.test.mjs).
const kTie = 0.02;
// The near-tie tolerance of each adapter type (an f32 logit lead below it may flip under that type's rounding).
const kTypeTie = { f16: 0.05, bf16: 0.1, q8_0: 0.1 };

describe('llama.cpp (node-llama-cpp) applies lmcpp LoRA adapter exports', { skip, timeout: 600_000 }, () => {
  let llama, gpt, bert, LlamaEmbeddingContext;
  before(async () => {
    const lib = await import(pathToFileURL(path.join(nm, 'node-llama-cpp/dist/index.js')).href);
    // createEmbeddingContext takes no LoRA option in 3.22.1: an embedding context is built over a context that has
    // one (the same _embeddings context createEmbeddingContext makes).
    ({ LlamaEmbeddingContext } = await import(pathToFileURL(path.join(nm, 'node-llama-cpp/dist/evaluator/LlamaEmbeddingContext.js')).href));
    llama = await lib.getLlama({ gpu: false, build: 'never', skipDownload: true, logLevel: 'error' });
    gpt = await llama.loadModel({ modelPath: at('gptr.gguf') });
    bert = await llama.loadModel({ modelPath: at('bert.gguf') });
  });
  after(async () => { await gpt?.dispose(); await bert?.dispose(); });
  const gptContext = (adapter) => gpt.createContext({ contextSize: 256, threads: 2, lora: adapter && { adapters: [{ filePath: at(`${adapter}.gguf`), scale: 1 }] } });

  for (const name of ['lora-rs', 'lora-plain']) {
    test(`${name}: greedy continuation equals lmcpp generate --greedy --adapter and differs from the base's`, async (t) => {
      const ctx = await gptContext(`${name}-f32`);
      let same = 0, total = 0, changed = 0;
      try {
        for (const prompt of prompts) {
          const p = tokenize(prompt);
          const gen = (extra) => JSON.parse(lmcpp(['generate', '--model', at('gptr'), ...extra, '--ids', p.join(','), '--greedy', '--max-new-tokens', '32', '--json'])).ids;
          const ours = gen(['--adapter', at(name)]);
          if (gen([]).join(' ') !== ours.join(' ')) ++changed;
          const seq = ctx.getSequence();
          const theirs = [];
          for await (const tok of seq.evaluate(p, { temperature: 0 })) {
            theirs.push(tok);
            if (theirs.length >= ours.length) break;
          }
          seq.dispose();
          let k = 0;
          while (k < ours.length && theirs[k] === ours[k]) ++k;
          same += k;
          total += ours.length;
          if (k === ours.length) continue;
          const row = lmcppLogits(['--model', at('gptr'), '--adapter', at(name)], [...p, ...ours.slice(0, k)], 'fork').slice(-V);
          const gap = row[ours[k]] - row[theirs[k]];
          t.diagnostic(`${JSON.stringify(prompt)}: forks at token ${k}: lmcpp ${ours[k]} vs llama.cpp ${theirs[k]}, logit gap ${gap.toFixed(5)}`);
          assert.ok(gap >= 0 && gap < kTie, `${JSON.stringify(prompt)}: llama.cpp chose ${theirs[k]} where lmcpp's logit is ${gap} lower`);
        }
      } finally {
        await ctx.dispose();
      }
      t.diagnostic(`${same}/${total} greedy tokens identical before any fork; the adapter changed ${changed}/${prompts.length} continuations`);
      assert.ok(same >= total / 2, `only ${same}/${total} tokens before the forks`);
      assert.equal(changed, prompts.length, 'the adapter must change every continuation');
    });
  }

  test('f16 / bf16 / q8_0 adapter files agree with lmcpp f32 on top-1 at >= 99% of decisive positions (teacher forcing)', async (t) => {
    const text = readFileSync(path.join(here, '../../README.md'), 'utf8').slice(0, 4000);
    const tokens = tokenize(text).slice(0, 200);
    const ours = lmcppLogits(['--model', at('gptr'), '--adapter', at('lora-rs')], tokens, 'forced');
    const want = argmaxRows(ours);
    for (const type of ['f32', 'f16', 'bf16', 'q8_0']) {
      const ctx = await gptContext(`lora-rs-${type}`);
      const seq = ctx.getSequence();
      const res = await seq.controlledEvaluate(tokens.map((x) => [x, { generateNext: { logits: { filter: { tokens: [], includeTop: 1 } } } }]));
      await ctx.dispose();
      let same = 0, ties = 0;
      res.forEach((r, i) => {
        const x = [...r.next.logits.keys()][0];
        if (x === want[i]) ++same;
        else if (ours[i * V + want[i]] - ours[i * V + x] < (kTypeTie[type] ?? kTie)) ++ties;
      });
      const frac = same / (tokens.length - ties);
      t.diagnostic(`llama.cpp + lora-rs-${type}: top-1 equal at ${same}/${tokens.length}; ${ties} near-ties; ${(100 * frac).toFixed(1)}% of the decisive ones`);
      assert.ok(frac >= 0.99, `${type}: ${same}/${tokens.length - ties} decisive positions`);
      assert.ok(ties <= tokens.length * 0.05, `${type}: ${ties} near-tie flips`);
    }
  });

  // A random BERT's mean-pooled embeddings share a large common component (cosines near 1 whatever the text), so
  // the check is on the adapter's effect: llama.cpp's embedding with the adapter lies within 1% of the adapter's
  // shift (lmcpp with minus lmcpp without) of lmcpp's, and that shift is not small.
  test('BERT: the mean-pooled embedding with the adapter equals lmcpp embed --adapter within 1% of the adapter\'s effect', async (t) => {
    const texts = ['Hello world, this is lmcpp.', 'The quick brown fox jumps over the lazy dog.', 'for (int i = 0; i < n; ++i) sum += x[i];'];
    const ctx = await bert.createContext({ contextSize: 128, threads: 2, _embeddings: true, lora: { adapters: [{ filePath: at('lora-bert-f32.gguf') }] } });
    const emb = new LlamaEmbeddingContext({ _llamaContext: ctx });
    const dist = (a, b) => Math.sqrt(a.reduce((s, x, i) => s + (x - b[i]) ** 2, 0));
    let worst = 0, smallest = Infinity, cos = 1;
    try {
      for (const text of texts) {
        const ours = JSON.parse(lmcpp(['embed', '--model', at('bert'), '--adapter', at('lora-bert'), '--text', text, '--json'])).embedding;
        const base = JSON.parse(lmcpp(['embed', '--model', at('bert'), '--text', text, '--json'])).embedding;
        const theirs = (await emb.getEmbeddingFor(text)).vector;
        assert.equal(theirs.length, ours.length);
        const effect = dist(ours, base);
        worst = Math.max(worst, dist(theirs, ours) / effect);
        smallest = Math.min(smallest, effect / dist(base, base.map(() => 0)));
        cos = Math.min(cos, cosine(ours, theirs));
      }
    } finally {
      await emb.dispose();
    }
    t.diagnostic(`|llama.cpp - lmcpp --adapter| <= ${(100 * worst).toFixed(3)}% of |lmcpp --adapter - lmcpp| (the adapter's ` +
      `effect, >= ${(100 * smallest).toFixed(1)}% of the embedding's norm); worst cosine ${cos.toFixed(7)}`);
    assert.ok(worst <= 0.01, `llama.cpp is ${worst} of the adapter's effect away from lmcpp --adapter`);
    assert.ok(smallest >= 0.02, `the adapter barely moves the embedding (${smallest} of its norm)`);
    assert.ok(cos >= 0.9999, `cosine ${cos}`);
  });
});

describe('lmcpp export --adapter refuses what llama.cpp cannot hold', { skip }, () => {
  test('an adapter with modules_to_save: exit 2, one line naming the tensor, no file left', () => {
    const out = at('cls.gguf');
    const r = spawnSync(bin, ['export', '--model', at('bertcls'), '--adapter', at('lora-cls'), '--out', out], { encoding: 'utf8' });
    assert.equal(r.status, 2, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /modules_to_save/);
    assert.match(r.stderr, /classifier/);
    assert.ok(!existsSync(out), 'no output file');
  });
});
