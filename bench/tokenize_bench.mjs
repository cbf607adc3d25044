// Encode throughput of tiktoken (npm, WASM) and HF tokenizers (npm native binding) over the lines of a file, for
// bench/tokenize_bench.sh. Usage: node tokenize_bench.mjs FILE SHARED_DATA_DIR
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
const require = createRequire(path.resolve(process.cwd(), 'tests/reference/tokenizers/package.json'));
const { Tokenizer } = require('tokenizers');
const { get_encoding } = require('tiktoken');

const [file, shared] = process.argv.slice(2);
const text = fs.readFileSync(file, 'utf8');
const lines = text.split('\n');
const mb = Buffer.byteLength(text, 'utf8') / 1e6;
const which = process.env.BENCH_ONLY || 'all';

function median(xs) { xs.sort((a, b) => a - b); return xs[Math.floor(xs.length / 2)]; }
async function time(fn, repeat = Number(process.env.BENCH_REPEAT || 1)) {
  const t = [];
  for (let r = 0; r < repeat; ++r) { const t0 = process.hrtime.bigint(); await fn(); t.push(Number(process.hrtime.bigint() - t0) / 1e9); }
  return median(t);
}

if (which === 'all' || which === 'tiktoken') {
  const enc = get_encoding('gpt2');
  const s = await time(() => { for (const l of lines) enc.encode(l); });
  console.log(`tiktoken  gpt2      ${mb.toFixed(1)} MB  1 thread: ${(mb / s).toFixed(2)} MB/s`);
}
function gpt2Json() {
  const vocab = JSON.parse(fs.readFileSync(path.join(shared, 'tokenizers/gpt2/encoder.json'), 'utf8'));
  const merges = fs.readFileSync(path.join(shared, 'tokenizers/gpt2/vocab.bpe'), 'utf8').split('\n')
    .filter((l, i) => l.length > 0 && !(i === 0 && l.startsWith('#version')));
  const bl = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  return { version: '1.0', truncation: null, padding: null, added_tokens: [{ id: 50256, content: '<|endoftext|>',
    single_word: false, lstrip: false, rstrip: false, normalized: true, special: true }], normalizer: null,
    pre_tokenizer: bl, post_processor: bl, decoder: bl, model: { type: 'BPE', dropout: null, unk_token: null,
    continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false, byte_fallback: false, vocab, merges } };
}
function bertJson() {
  const ls = fs.readFileSync(path.join(shared, 'tokenizers/bert-base-uncased/vocab.txt'), 'utf8').split('\n');
  if (ls[ls.length - 1] === '') ls.pop();
  const vocab = {}; ls.forEach((t, i) => { vocab[t] = i; });
  return { version: '1.0', truncation: null, padding: null, added_tokens: [],
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
    pre_tokenizer: { type: 'BertPreTokenizer' }, post_processor: null, decoder: null,
    model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab } };
}
const threads = process.env.RAYON_NUM_THREADS ? `${process.env.RAYON_NUM_THREADS} thread(s)` : 'all threads';
for (const [name, json] of [['gpt2', gpt2Json], ['wordpiece', bertJson]]) {
  if (which !== 'all' && which !== `hf-${name}`) continue;
  const tok = Tokenizer.fromString(JSON.stringify(json()));
  const s = await time(() => tok.encodeBatch(lines, { addSpecialTokens: false }));
  console.log(`hf        ${name.padEnd(9)} ${mb.toFixed(1)} MB  encodeBatch on ${threads}: ${(mb / s).toFixed(2)} MB/s`);
}
