// Generates the reference token ids that tests/tokenize compares against (run by hand; see README.md).
// GPT-2: Hugging Face tokenizers (npm "tokenizers", the Rust library's native binding) and tiktoken (npm
// "tiktoken", WASM) must agree; WordPiece: HF tokenizers configured as BertTokenizerFast is.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const { Tokenizer } = require('tokenizers');
const { get_encoding } = require('tiktoken');

const here = path.dirname(new URL(import.meta.url).pathname);
// $LM_SHARED_DATA, else ../shared/data next to the source tree (as tests/harness finds it).
const shared = process.env.LM_SHARED_DATA || path.resolve(here, '../../../../shared/data');
const out = path.join(here, 'ids');
fs.mkdirSync(out, { recursive: true });

// ---- tokenizers, built as tokenizer.json the way transformers' converters build them ----
function gpt2Json() {
  const vocab = JSON.parse(fs.readFileSync(path.join(shared, 'tokenizers/gpt2/encoder.json'), 'utf8'));
  const merges = fs.readFileSync(path.join(shared, 'tokenizers/gpt2/vocab.bpe'), 'utf8').split('\n')
    .filter((l, i) => l.length > 0 && !(i === 0 && l.startsWith('#version')));
  const bl = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  return {
    version: '1.0', truncation: null, padding: null,
    added_tokens: [{ id: 50256, content: '<|endoftext|>', single_word: false, lstrip: false, rstrip: false,
                     normalized: true, special: true }],
    normalizer: null, pre_tokenizer: bl, post_processor: bl, decoder: bl,
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '',
             fuse_unk: false, byte_fallback: false, vocab, merges },
  };
}
function bertJson(name, lowercase) {
  const lines = fs.readFileSync(path.join(shared, `tokenizers/${name}/vocab.txt`), 'utf8').split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const vocab = {};
  lines.forEach((t, i) => { vocab[t.trimEnd()] = i; });
  const added = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'].map((t) => ({
    id: vocab[t], content: t, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }));
  return {
    version: '1.0', truncation: null, padding: null, added_tokens: added,
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: { type: 'BertProcessing', sep: ['[SEP]', vocab['[SEP]']], cls: ['[CLS]', vocab['[CLS]']] },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100,
             vocab },
  };
}
const tokenizers = {
  gpt2: Tokenizer.fromString(JSON.stringify(gpt2Json())),
  'bert-base-uncased': Tokenizer.fromString(JSON.stringify(bertJson('bert-base-uncased', true))),
  'bert-base-cased': Tokenizer.fromString(JSON.stringify(bertJson('bert-base-cased', false))),
};
const tiktoken = get_encoding('gpt2');

// ---- corpora: the same selection tests/tokenize/reference_test.cpp makes ----
function textLines(file, n) {
  const lines = fs.readFileSync(path.join(shared, file), 'utf8').split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines.slice(0, n);
}
function squadTexts(n) {
  const d = JSON.parse(fs.readFileSync(path.join(shared, 'qa/squad-v1.1-dev-articles00-39.json'), 'utf8'));
  const texts = [];
  for (const a of d.data) for (const p of a.paragraphs) {
    texts.push(p.context);
    for (const q of p.qas) texts.push(q.question);
  }
  return texts.slice(0, n);
}
const corpora = {
  hard: fs.readFileSync(path.join(here, 'hard_cases.jsonl'), 'utf8').split('\n').filter((l) => l).map((l) => JSON.parse(l)),
  code: fs.readFileSync(path.join(here, 'code_sample.txt'), 'utf8').split('\n').slice(0, -1),
  shakespeare: textLines('tinyshakespeare/input.txt', 2000),
  wikitext2: textLines('wikitext2/wiki.test.raw', 1000),
  sst2: textLines('sst2/stsa.binary.dev', 872),
  squad: squadTexts(1000),
};

let mismatches = 0;
for (const [cname, texts] of Object.entries(corpora)) {
  for (const [tname, tok] of Object.entries(tokenizers)) {
    const encs = await tok.encodeBatch(texts);
    const rows = encs.map((e) => e.getIds().join(' '));
    if (tname === 'gpt2') {
      texts.forEach((t, i) => {
        const tk = Array.from(tiktoken.encode(t, 'all')).join(' ');
        if (tk !== rows[i]) {
          ++mismatches;
          console.log(`tiktoken != HF for ${cname} line ${i + 1}: ${JSON.stringify(t)}\n  tiktoken ${tk}\n  hf       ${rows[i]}`);
        }
      });
    }
    fs.writeFileSync(path.join(out, `${tname}.${cname}.ids`), rows.join('\n') + '\n');
  }
  console.log(`${cname}: ${texts.length} texts`);
}
console.log(`gpt2: tiktoken/HF mismatches: ${mismatches}`);

// ---- decode: HF decode (skip_special_tokens false and true) of the hard cases' ids ----
const decoded = {};
for (const [tname, tok] of Object.entries(tokenizers)) {
  const encs = await tok.encodeBatch(corpora.hard);
  decoded[tname] = [];
  for (const e of encs) {
    decoded[tname].push({ ids: e.getIds(), text: await tok.decode(e.getIds(), false),
                          skip: await tok.decode(e.getIds(), true) });
  }
}
fs.writeFileSync(path.join(out, 'decode.json'), JSON.stringify(decoded) + '\n');

// ---- BERT pairs, truncation and padding (BatchEncoding semantics) ----
const pairTexts = [
  ['The quick brown fox jumps over the lazy dog.', 'A short one.'],
  ['Short.', 'This second sequence is a good deal longer than the first one, with many words in it.'],
  ['equal length here', 'equal length there'],
  ['Who wrote Hamlet?', 'Hamlet is a tragedy written by William Shakespeare sometime between 1599 and 1601.'],
  ['one', 'two'],
  ['A much longer first sentence that will need to be cut down to size by the truncation.', 'Second sentence, medium size.'],
];
const settings = [];
for (const maxLength of [8, 12, 16, 25]) for (const strategy of ['LongestFirst', 'OnlyFirst', 'OnlySecond'])
  settings.push({ maxLength, strategy, padding: null });
settings.push({ maxLength: null, strategy: null, padding: { } });
settings.push({ maxLength: null, strategy: null, padding: { padToMultipleOf: 8 } });
settings.push({ maxLength: 16, strategy: 'LongestFirst', padding: { maxLength: 16 } });
settings.push({ maxLength: 20, strategy: 'LongestFirst', padding: { padToMultipleOf: 8 } });
const pairCases = [];
for (const tname of ['bert-base-uncased', 'bert-base-cased']) {
  for (const s of settings) {
    for (const single of [false, true]) {
      const tok = Tokenizer.fromString(JSON.stringify(bertJson(tname, tname.endsWith('uncased'))));
      if (s.maxLength) tok.setTruncation(s.maxLength, { strategy: s.strategy });
      // Each text alone (errors are per text); batch padding below as HF's pad_encodings does it.
      const results = [];
      for (const [a, b] of pairTexts) {
        try {
          results.push(await (single ? tok.encode(a) : tok.encode(a, b)));
        } catch (err) {
          results.push({ error: String(err) });
        }
      }
      if (s.padding) {
        const ok = results.filter((r) => !r.error);
        let len = s.padding.maxLength ?? Math.max(...ok.map((e) => e.getLength()));
        const m = s.padding.padToMultipleOf;
        if (m && len % m) len += m - (len % m);
        for (const e of ok) e.pad(len, { padId: 0, padTypeId: 0, padToken: '[PAD]' });
      }
      pairCases.push({ tokenizer: tname, ...s, single, texts: pairTexts,
        results: results.map((e) => e.error ? { error: e.error } :
          { input_ids: e.getIds(), token_type_ids: e.getTypeIds(), attention_mask: e.getAttentionMask() }) });
    }
  }
}
fs.writeFileSync(path.join(out, 'bert_pairs.json'), JSON.stringify(pairCases) + '\n');
console.log(`bert pair cases: ${pairCases.length}`);

// ---- BPE training: HF's default BpeTrainer (the only one the node binding exposes: vocab_size 30000,
// min_frequency 0, no special tokens, no initial alphabet) with a ByteLevel pre-tokenizer on the first 10000
// lines of tiny Shakespeare. lmcpp's trainer with the same settings must give the same merges.
{
  const tmp = fs.mkdtempSync('/tmp/lmcpp_bpe_train_');
  const file = path.join(tmp, 'train.txt');
  fs.writeFileSync(file, textLines('tinyshakespeare/input.txt', 10000).join('\n') + '\n');
  const bl = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  const tok = Tokenizer.fromString(JSON.stringify({
    version: '1.0', truncation: null, padding: null, added_tokens: [], normalizer: null, pre_tokenizer: bl,
    post_processor: null, decoder: bl,
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
             fuse_unk: false, byte_fallback: false, vocab: {}, merges: [] } }));
  tok.train([file]);
  const saved = path.join(tmp, 'tokenizer.json');
  tok.save(saved);
  const model = JSON.parse(fs.readFileSync(saved, 'utf8')).model;
  const merges = model.merges.map((m) => (Array.isArray(m) ? m.join(' ') : m));
  fs.writeFileSync(path.join(out, 'bpe_train_shakespeare10k.merges'), merges.join('\n') + '\n');
  const vocab = Object.entries(model.vocab).sort((x, y) => x[1] - y[1]).map((e) => e[0]);
  fs.writeFileSync(path.join(out, 'bpe_train_shakespeare10k.vocab.json'), JSON.stringify(vocab) + '\n');
  console.log(`bpe training: ${merges.length} merges, vocab ${vocab.length}`);
}
