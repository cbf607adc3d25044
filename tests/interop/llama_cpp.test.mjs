// lmcpp's GGUF exports read by independent consumers, and by lmcpp itself:
//   - llama.cpp (node-llama-cpp 3.22.1's prebuilt linux-x64 CPU library, no build, no download) loads every export
//     (gpt2 f32/f16/bf16/q8_0, bert f32/f16, a bert classifier f32/q8_0); tokenizes the hard-case sample exactly as
//     `lmcpp tokenize` does (GPT-2 BPE, a trained BPE with ChatML tokens, WordPiece); its greedy continuation of the
//     f32 export equals `lmcpp generate --greedy` token for token; f16/bf16/q8_0 agree with lmcpp's f32 top-1 at
//     >= 99% of positions under teacher forcing; its BERT mean-pooled embeddings have cosine >= 0.9999 (f32) and
//     >= 0.999 (f16) with `lmcpp embed`;
//   - Hugging Face's GGUF parser (@huggingface/gguf) reads the metadata and tensor infos lmcpp states;
//   - lmcpp reads its exports back: f32 outputs bitwise equal to the directory's (forward, predict, embed,
//     tokenize --chat), quantized ones at the same top-1; a truncated file is one clear error.
// Environment (tests/interop/llama_run.sh sets it up): LMCPP_BIN, the binary; LMCPP_LLAMA_DIR, the folder with
// the model directories and their exports.

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const here = path.dirname(new URL(import.meta.url).pathname);
const nm = path.join(here, '../node/node_modules');
const bin = process.env.LMCPP_BIN;
const dir = process.env.LMCPP_LLAMA_DIR;
const skip = !bin || !dir ? 'LMCPP_BIN / LMCPP_LLAMA_DIR not set (run tests/interop/llama_run.sh BIN)' : false;
const at = (name) => path.join(dir ?? '', name);

const ref = path.join(here, '../reference/tokenizers');
const hard = readFileSync(path.join(ref, 'hard_cases.jsonl'), 'utf8').split('\n').filter((l) => l).map((l) => JSON.parse(l));
const code = readFileSync(path.join(ref, 'code_sample.txt'), 'utf8').split('\n').filter((l) => l);
const chatTexts = [
  '<|im_start|>user\nHello there<|im_end|>\n<|im_start|>assistant\n',
  'before<|im_start|>after <|im_end|>  spaced <|im_end|><|im_start|><|endoftext|>',
  'not quite <|im_start |> nor <|im_end',
];

function lmcpp(args, input) {
  const r = spawnSync(bin, args, { input, encoding: 'utf8', maxBuffer: 512 << 20 });
  assert.equal(r.status, 0, `lmcpp ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}
const lines = (s) => s.split('\n').slice(0, -1);
const jsonl = (texts) => texts.map((t) => JSON.stringify(t)).join('\n') + '\n';
const ids = (line) => (line.trim() ? line.trim().split(' ').map(Number) : []);

// The f32 tensors of a safetensors file by name: {shape, data}.
function readSafetensors(file) {
  const buf = readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
  const out = {};
  for (const [name, e] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const [b, t] = e.data_offsets;
    const bytes = buf.subarray(8 + n + b, 8 + n + t);
    out[name] = { shape: e.shape, data: new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length)) };
  }
  return out;
}
// Top-1 id of each row of (T, V) logits.
// Top-1 agreement of reduced-precision weights with lmcpp's f32 logits `ours` (rows of V): positions where the
// choices differ but lmcpp's f32 top-1 leads the other choice by less than `tie` are near-ties (rounding may flip
// them; they say nothing about the file), the rest are decisive. {same, ties, decisive, frac, worst}.
function agreement(ours, V, want, theirs, tie) {
  let same = 0, ties = 0, worst = 0;
  theirs.forEach((x, i) => {
    if (x === want[i]) return void ++same;
    const gap = ours[i * V + want[i]] - ours[i * V + x];
    if (gap < tie) ++ties;
    else worst = Math.max(worst, gap);
  });
  const decisive = theirs.length - ties;
  return { same, ties, decisive, frac: same / decisive, worst };
}

// The near-tie tolerance of each weight type (an f32 logit lead below it may flip under that type's rounding).
const kTypeTie = { 'gpt-f32': 0.02, 'gpt-f16': 0.05, 'gpt-bf16': 0.1, 'gpt-q8_0': 0.1 };

function argmaxRows(data, V) {
  const out = [];
  for (let r = 0; r * V < data.length; ++r) {
    let best = 0;
    for (let v = 1; v < V; ++v) if (data[r * V + v] > data[r * V + best]) best = v;
    out.push(best);
  }
  return out;
}
function lmcppLogits(model, tokens, name) {
  const file = at(`${name}.safetensors`);
  lmcpp(['forward', '--model', model, '--ids', tokens.join(','), '--out', file]);
  return readSafetensors(file);
}
const cosine = (a, b) => {
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < a.length; ++i) { ab += a[i] * b[i]; aa += a[i] * a[i]; bb += b[i] * b[i]; }
  return ab / Math.sqrt(aa * bb);
};

// A teacher-forcing sequence: the GPT-2 ids of the README (text the model was trained on), cut to `n`.
function forcedTokens(n) {
  const text = readFileSync(path.join(here, '../../README.md'), 'utf8').slice(0, 4000);
  return ids(lines(lmcpp(['tokenize', '--tokenizer', at('gpt'), '--input', 'jsonl'], jsonl([text])))[0]).slice(0, n);
}

// Where llama.cpp's WordPiece (src/llama-vocab.cpp, llm_tokenizer_wpm) departs from Hugging Face's BertTokenizer,
// which lmcpp matches (tests/tokenize, tests/interop/hf_tokenizers.test.mjs): words over max_input_chars_per_word
// (100) become [UNK] in HF, llama.cpp splits them; HF's NFD decomposes Hangul syllables into jamo, llama.cpp does
// not; HF drops combining marks (Mn) with strip_accents, llama.cpp keeps Devanagari/Thai vowel signs; and
// U+0085/U+2028/U+2029 are whitespace to HF's BERT splitter, not to llama.cpp's. A text hit by one of these is
// reported, not failed; every other text must match exactly.
const wpmDivergence = (t) => (/[^\s]{101,}/u.test(t) && 'a word over 100 characters')
  || (/[\uac00-\ud7a3]/u.test(t) && 'Hangul syllables (NFD)')
  || (/[\u0900-\u097f\u0e00-\u0e7f]/u.test(t) && 'Devanagari/Thai combining marks')
  || (/[\u0085\u2028\u2029]/u.test(t) && 'U+0085/U+2028/U+2029 as whitespace');

describe('llama.cpp (node-llama-cpp) runs lmcpp exports', { skip, timeout: 600_000 }, () => {
  let llama;
  const models = new Map();
  before(async () => {
    const { getLlama } = await import(pathToFileURL(path.join(nm, 'node-llama-cpp/dist/index.js')).href);
    llama = await getLlama({ gpu: false, build: 'never', skipDownload: true, logLevel: 'error' });
  });
  after(async () => { for (const m of models.values()) await m.dispose(); });
  const load = async (name) => {
    if (!models.has(name)) models.set(name, await llama.loadModel({ modelPath: at(`${name}.gguf`) }));
    return models.get(name);
  };

  test('every export loads, with the architecture, context and vocabulary lmcpp wrote', async (t) => {
    const want = { gpt: ['gpt2', 256, 50257], gptr: ['gpt2', 256, 50257], chat: ['gpt2', 256, null], bert: ['bert', 128, 30522], bertcls: ['bert', 128, 30522] };
    for (const name of ['gpt-f32', 'gpt-f16', 'gpt-bf16', 'gpt-q8_0', 'gptr-f32', 'chat-f32', 'bert-f32', 'bert-f16', 'bertcls-f32', 'bertcls-q8_0']) {
      const m = await load(name);
      const [arch, ctx, vocab] = want[name.split('-')[0]];
      assert.equal(m.fileInfo.metadata.general.architecture, arch, name);
      assert.equal(m.trainContextSize, ctx, `${name}: context`);
      if (vocab) assert.equal(m.tokens.size ?? m.vocabularySize ?? vocab, vocab, `${name}: vocabulary`);
      t.diagnostic(`${name}: ${arch}, context ${m.trainContextSize}, ${m.size} bytes`);
    }
  });

  const tokenizeCases = [
    ['GPT-2 BPE', 'gpt-f32', 'gpt', [...hard, ...code]],
    ['a trained BPE with ChatML tokens', 'chat-f32', 'chat', [...hard, ...code, ...chatTexts]],
    ['WordPiece (bert-base-uncased)', 'bert-f32', 'bert', [...hard, ...code]],
  ];
  for (const [label, file, mdir, texts] of tokenizeCases) {
    test(`tokenization: ${label} ids equal lmcpp tokenize on the hard-case sample`, async (t) => {
      const m = await load(file);
      const ours = lines(lmcpp(['tokenize', '--tokenizer', at(mdir), '--input', 'jsonl'], jsonl(texts)));
      const bad = [];
      const known = [];
      texts.forEach((text, i) => {
        const theirs = Array.from(m.tokenize(text, true));
        // llama.cpp's tokenize leaves out [CLS]/[SEP] (its add_special step happens when a context evaluates).
        const wp = file.startsWith('bert');
        const want = wp ? ids(ours[i]).slice(1, -1) : ids(ours[i]);
        if (theirs.join(' ') === want.join(' ')) return;
        const why = wp && wpmDivergence(text);
        (why ? known : bad).push(`${JSON.stringify(text).slice(0, 80)}${why ? ` (${why})` : ''}\n  llama.cpp ${theirs.join(' ')}\n  lmcpp     ${want.join(' ')}`);
      });
      t.diagnostic(`${texts.length - bad.length - known.length}/${texts.length} texts identical; ${known.length} on llama.cpp's known WordPiece departures from HF`);
      for (const k of known) t.diagnostic(k.split('\n')[0]);
      assert.equal(bad.length, 0, bad.slice(0, 8).join('\n'));
    });
  }

  // Greedy text forks where two candidates are closer than the two engines' logits are (llama.cpp's CPU GELU is an
  // f16 table: logits differ by ~5e-3 here). So: token for token up to the first fork, and every fork at a position
  // where lmcpp's top-2 logits are within kTie (checked on lmcpp's own logits); the forks must leave most tokens.
  const kTie = 0.02;
  test('greedy continuation of the f32 export equals lmcpp generate --greedy, forking only at near-ties', async (t) => {
    const m = await load('gptr-f32');
    const ctx = await m.createContext({ contextSize: 256, threads: 2 });
    const prompts = ['Hello world', 'The meaning of life is', 'def main():\n    return', 'Once upon a time', 'In 1990, the',
      'She said', 'import numpy as np', 'The capital of France'];
    let same = 0, total = 0;
    try {
      for (const prompt of prompts) {
        const p = ids(lines(lmcpp(['tokenize', '--tokenizer', at('gptr'), '--input', 'jsonl'], jsonl([prompt])))[0]);
        const ours = JSON.parse(lmcpp(['generate', '--model', at('gptr'), '--ids', p.join(','), '--greedy', '--max-new-tokens', '48', '--json'])).ids;
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
        const row = lmcppLogits(at('gptr'), [...p, ...ours.slice(0, k)], 'fork').logits.data.slice(-50257);
        const gap = row[ours[k]] - row[theirs[k]];
        t.diagnostic(`${JSON.stringify(prompt)}: forks at token ${k}: lmcpp ${ours[k]} vs llama.cpp ${theirs[k]}, logit gap ${gap.toFixed(5)}`);
        assert.ok(gap >= 0 && gap < kTie, `${JSON.stringify(prompt)}: llama.cpp chose ${theirs[k]} where lmcpp's logit is ${gap} lower`);
      }
    } finally {
      await ctx.dispose();
    }
    t.diagnostic(`${same}/${total} greedy tokens identical before any fork`);
    assert.ok(same >= total / 2, `only ${same}/${total} tokens before the forks`);
  });

  // Reduced-precision weights move every logit a little, so they may flip a position whose two best logits are
  // nearly equal; such a flip says nothing about the export. So: at >= 99% of the positions where lmcpp's f32 top-1
  // leads the export's choice by more than the type's tolerance the two agree, and near-ties are a small minority.
  test('f16 / bf16 / q8_0 exports agree with lmcpp f32 on top-1 at >= 99% of decisive positions (teacher forcing)', async (t) => {
    const tokens = forcedTokens(200);
    const V = 50257;
    const ours = lmcppLogits(at('gpt'), tokens, 'gpt-forced').logits.data;
    const want = argmaxRows(ours, V);
    for (const name of ['gpt-f32', 'gpt-f16', 'gpt-bf16', 'gpt-q8_0']) {
      const m = await load(name);
      const ctx = await m.createContext({ contextSize: 256, threads: 2 });
      const seq = ctx.getSequence();
      const res = await seq.controlledEvaluate(tokens.map((x) => [x, { generateNext: { logits: { filter: { tokens: [], includeTop: 1 } } } }]));
      await ctx.dispose();
      const a = agreement(ours, V, want, res.map((r) => [...r.next.logits.keys()][0]), kTypeTie[name]);
      t.diagnostic(`llama.cpp ${name}: top-1 equal at ${a.same}/${tokens.length} positions; ${a.ties} near-ties (f32 ` +
        `lead < ${kTypeTie[name]}); ${(100 * a.frac).toFixed(1)}% of the decisive ones` +
        (a.worst ? `, largest lead lost ${a.worst.toFixed(4)}` : ''));
      assert.ok(a.frac >= (name === 'gpt-f32' ? 0.995 : 0.99), `${name}: ${a.same}/${a.decisive} decisive positions`);
      assert.ok(a.ties <= tokens.length * 0.05, `${name}: ${a.ties} near-tie flips`);
    }
  });

  test('BERT mean-pooled embeddings: cosine with lmcpp embed >= 0.9999 (f32 export), >= 0.999 (f16)', async (t) => {
    const texts = ['Hello world, this is lmcpp.', 'The quick brown fox jumps over the lazy dog.',
      'Café déjà vu: naïve coöperation', 'for (int i = 0; i < n; ++i) sum += x[i];'];
    for (const [name, min] of [['bert-f32', 0.9999], ['bert-f16', 0.999]]) {
      const m = await load(name);
      const ctx = await m.createEmbeddingContext({ contextSize: 128, threads: 2 });
      let worst = 1;
      for (const text of texts) {
        const ours = JSON.parse(lmcpp(['embed', '--model', at('bert'), '--text', text, '--json'])).embedding;
        const theirs = (await ctx.getEmbeddingFor(text)).vector;
        assert.equal(theirs.length, ours.length);
        worst = Math.min(worst, cosine(ours, theirs));
      }
      await ctx.dispose();
      t.diagnostic(`${name}: worst cosine ${worst.toFixed(7)} over ${texts.length} texts`);
      assert.ok(worst >= min, `${name}: cosine ${worst}`);
    }
  });
});

describe("Hugging Face's GGUF library (@huggingface/gguf) reads what lmcpp states and writes what lmcpp reads", { skip, timeout: 120_000 }, () => {
  let gguf, buildGgufHeader;
  before(async () => {
    ({ gguf, buildGgufHeader } = await import(pathToFileURL(path.join(nm, '@huggingface/gguf/dist/index.mjs')).href));
  });

  // HF's writer (buildGgufHeader: metadata, tensor infos, alignment padding) makes a new header for an export with
  // edited metadata; the tensor data is carried over. lmcpp must read the result exactly as the original.
  test('a GGUF whose header HF wrote (with a new key and name) reads the same in lmcpp', async () => {
    for (const [file, key] of [['gpt-q8_0', 'logits'], ['bertcls-f32', 'logits']]) {
      const src = at(`${file}.gguf`);
      const r = await gguf(src, { allowLocalFile: true, typedMetadata: true });
      const md = r.typedMetadata;
      md['general.name'] = { value: 'rewritten by @huggingface/gguf', type: md['general.name'].type };
      md['general.description'] = { value: 'an extra key lmcpp does not use', type: md['general.name'].type };
      md.kv_count = { value: md.kv_count.value + 1n, type: md.kv_count.type };
      const whole = readFileSync(src);
      const header = await buildGgufHeader(new Blob([whole]), md, { littleEndian: true, tensorInfoByteRange: r.tensorInfoByteRange });
      const head = Buffer.from(await header.arrayBuffer());
      const out = at(`${file}-hf.gguf`);
      writeFileSync(out, Buffer.concat([head, whole.subarray(Number(r.tensorDataOffset))]));
      const info = JSON.parse(lmcpp(['info', '--model', out, '--json']));
      assert.equal(info.gguf.metadata_keys, Number(md.kv_count.value));
      const tokens = [101, 7592, 2088, 1010, 2023, 2003, 102];
      const a = lmcppLogits(src, tokens, `${file}-a`)[key].data;
      const b = lmcppLogits(out, tokens, `${file}-b`)[key].data;
      assert.ok(Buffer.from(a.buffer).equals(Buffer.from(b.buffer)), `${file}: outputs differ after HF rewrote the header`);
    }
  });

  test('metadata and tensor infos equal lmcpp info and the model directory', async () => {
    for (const [file, mdir, type] of [['gpt-q8_0', 'gpt', 8], ['bert-f16', 'bert', 1], ['chat-f32', 'chat', 0]]) {
      const r = await gguf(at(`${file}.gguf`), { allowLocalFile: true });
      const info = JSON.parse(lmcpp(['info', '--model', at(`${file}.gguf`), '--json']));
      const cfg = JSON.parse(readFileSync(path.join(at(mdir), 'config.json'), 'utf8'));
      const arch = r.metadata['general.architecture'];
      assert.equal(r.metadata.version, 3);
      assert.equal(r.tensorInfos.length, info.gguf.tensors, file);
      assert.equal(Number(r.metadata[`${arch}.context_length`]), info.context_length);
      assert.equal(r.metadata['tokenizer.ggml.tokens'].length, info.vocab_size);
      const emb = r.tensorInfos.find((x) => x.name === 'token_embd.weight');
      assert.deepEqual(emb.shape.map(Number), [cfg.n_embd ?? cfg.hidden_size, info.vocab_size], 'ggml order: ne[0] innermost');
      assert.equal(emb.dtype, type, `${file}: token_embd type`);
      for (const x of r.tensorInfos) {
        assert.equal(Number(x.offset) % 32, 0, `${x.name} aligned`);
        if (x.n_dims === 1) assert.equal(x.dtype, 0, `${x.name}: 1-D tensors stay f32`);
      }
    }
    const chat = await gguf(at('chat-f32.gguf'), { allowLocalFile: true });
    const tc = JSON.parse(readFileSync(path.join(at('chat'), 'tokenizer_config.json'), 'utf8'));
    assert.equal(chat.metadata['tokenizer.chat_template'], tc.chat_template, 'the chat template travels');
    const eot = chat.metadata['tokenizer.ggml.eot_token_id'];
    assert.equal(chat.metadata['tokenizer.ggml.tokens'][eot], '<|im_end|>');
    assert.equal(chat.metadata['tokenizer.ggml.tokens'][chat.metadata['tokenizer.ggml.eos_token_id']], '<|im_end|>');
  });
});

describe('lmcpp reads its GGUF exports', { skip, timeout: 300_000 }, () => {
  test('f32: forward, embed and predict outputs bitwise equal to the directory; tokenize --chat the same', () => {
    const tokens = [15496, 995, 11, 428, 318, 257, 1332, 13];
    for (const [file, mdir, key] of [['gpt-f32', 'gpt', 'logits'], ['bert-f32', 'bert', 'last_hidden_state'], ['bertcls-f32', 'bertcls', 'logits']]) {
      const a = lmcppLogits(at(mdir), [101, ...tokens.map((x) => x % 30000), 102], `${mdir}-dir`)[key].data;
      const b = lmcppLogits(at(`${file}.gguf`), [101, ...tokens.map((x) => x % 30000), 102], `${mdir}-gguf`)[key].data;
      assert.ok(Buffer.from(a.buffer).equals(Buffer.from(b.buffer)), `${file}: ${key} differs`);
    }
    const text = 'Hello world, this is lmcpp.';
    assert.equal(lmcpp(['embed', '--model', at('bert-f32.gguf'), '--text', text, '--json']), lmcpp(['embed', '--model', at('bert'), '--text', text, '--json']));
    assert.equal(lmcpp(['predict', '--model', at('bertcls-f32.gguf'), '--text', text, '--json']), lmcpp(['predict', '--model', at('bertcls'), '--text', text, '--json']));
    const msgs = JSON.stringify({ messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi <|im_end|> there' }] }) + '\n';
    assert.equal(lmcpp(['tokenize', '--chat', '--tokenizer', at('chat-f32.gguf')], msgs), lmcpp(['tokenize', '--chat', '--tokenizer', at('chat')], msgs));
    assert.equal(lmcpp(['chat', '--model', at('chat-f32.gguf'), '--greedy', '--max-new-tokens', '8'], 'Name a colour.\n'),
      lmcpp(['chat', '--model', at('chat'), '--greedy', '--max-new-tokens', '8'], 'Name a colour.\n'));
  });

  test('quantized: top-1 of lmcpp on the q8_0 / f16 files equals its f32 at >= 99% of decisive positions', (t) => {
    const tokens = forcedTokens(200);
    const V = 50257;
    const ours = lmcppLogits(at('gpt'), tokens, 'gpt-dir').logits.data;
    const want = argmaxRows(ours, V);
    for (const name of ['gpt-f16', 'gpt-bf16', 'gpt-q8_0']) {
      const got = argmaxRows(lmcppLogits(at(`${name}.gguf`), tokens, name).logits.data, V);
      const a = agreement(ours, V, want, got, kTypeTie[name]);
      t.diagnostic(`lmcpp ${name}: ${a.same}/${tokens.length}; ${a.ties} near-ties; ${(100 * a.frac).toFixed(1)}% of the decisive ones`);
      assert.ok(a.frac >= 0.99, `${name}: ${a.same}/${a.decisive} decisive positions`);
      assert.ok(a.ties <= tokens.length * 0.05, `${name}: ${a.ties} near-tie flips`);
    }
    const c = JSON.parse(lmcpp(['predict', '--model', at('bertcls-q8_0.gguf'), '--text', 'a fine day', '--json']));
    const f = JSON.parse(lmcpp(['predict', '--model', at('bertcls'), '--text', 'a fine day', '--json']));
    assert.equal(c.label, f.label, 'q8_0 classifier: same label');
  });

  test('a truncated or foreign file is one clear error, exit 2', () => {
    const whole = readFileSync(at('bert-f16.gguf'));
    writeFileSync(at('cut.gguf'), whole.subarray(0, Math.floor(whole.length / 2)));
    for (const args of [['generate', '--model', at('cut.gguf'), '--prompt', 'x'], ['info', '--model', at('cut.gguf')], ['embed', '--model', at('cut.gguf'), '--text', 'x']]) {
      const r = spawnSync(bin, args, { encoding: 'utf8' });
      assert.equal(r.status, 2, `${args[0]}: exit ${r.status}: ${r.stderr}`);
      assert.match(r.stderr, /cut\.gguf/);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    }
  });
});
