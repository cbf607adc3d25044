// Hugging Face's tokenizers (npm `tokenizers` 0.23.2, the official Node binding of the Rust library) loading the
// tokenizer.json of each directory lmcpp wrote, and transformers' keys in the side files:
//   - ids: every hard case (tests/reference/tokenizers/hard_cases.jsonl) and code_sample.txt line encoded by HF
//     with add_special_tokens (BERT: [CLS] ... [SEP]) equals `lmcpp tokenize --tokenizer DIR --input jsonl`, with
//     DIR the directory itself (tokenizer.json) and a copy holding only its classic files (vocab.json + merges.txt
//     + side files, or vocab.txt + tokenizer_config.json): the tokenizer.json written says what the classic files
//     say;
//   - decode: HF decode(ids) equals `lmcpp detokenize --json`, with and without skip_special_tokens;
//   - files: tokenizer_config.json (tokenizer_class, model_max_length, special tokens, added_tokens_decoder, the
//     class options), special_tokens_map.json, config.json (architectures, torch_dtype), generation_config.json.
// Every mismatch prints the text and both id lists.
//
// Environment (tests/interop/run.sh sets it up): LMCPP_BIN, the lmcpp binary; LMCPP_INTEROP_MANIFEST, a JSON list
// of {name, dir, kind: bpe|wordpiece, max_length, model?: architecture, chat?: bool, lowercase?: bool};
// LMCPP_INTEROP_CLASSIC, the folder of the classic-files copies (one per name).

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);
const here = path.dirname(new URL(import.meta.url).pathname);
const { Tokenizer } = require(path.join(here, '../node/node_modules/tokenizers'));

const bin = process.env.LMCPP_BIN;
const manifestPath = process.env.LMCPP_INTEROP_MANIFEST;
const skip = !bin || !manifestPath || !process.env.LMCPP_INTEROP_CLASSIC
  ? 'LMCPP_BIN / LMCPP_INTEROP_MANIFEST / LMCPP_INTEROP_CLASSIC not set (run tests/interop/run.sh BIN)' : false;
const manifest = skip ? [] : JSON.parse(readFileSync(manifestPath, 'utf8'));
const classicRoot = process.env.LMCPP_INTEROP_CLASSIC;

const ref = path.join(here, '../reference/tokenizers');
const hard = readFileSync(path.join(ref, 'hard_cases.jsonl'), 'utf8').split('\n').filter((l) => l).map((l) => JSON.parse(l));
const code = readFileSync(path.join(ref, 'code_sample.txt'), 'utf8').split('\n').slice(0, -1);
// Added tokens in text: GPT-2's <|endoftext|> is in the hard cases; the chat tokens are matched like it.
const chatTexts = [
  '<|im_start|>user\nHello there<|im_end|>\n<|im_start|>assistant\n',
  'before<|im_start|>after <|im_end|>  spaced <|im_end|><|im_start|><|endoftext|>',
  'not quite <|im_start |> nor <|im_end',
];

function lmcpp(args, input) {
  const r = spawnSync(bin, args, { input, encoding: 'utf8', maxBuffer: 256 << 20 });
  assert.equal(r.status, 0, `lmcpp ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout.split('\n').slice(0, -1);
}
const jsonl = (texts) => texts.map((t) => JSON.stringify(t)).join('\n') + '\n';
const readJson = (dir, name) => JSON.parse(readFileSync(path.join(dir, name), 'utf8'));

// Compares HF's ids with lmcpp's reading dir (tokenizer.json, or the classic files alone); returns the mismatch
// report lines.
function compareIds(label, dir, encs, texts) {
  const ours = lmcpp(['tokenize', '--tokenizer', dir, '--input', 'jsonl'], jsonl(texts));
  assert.equal(ours.length, texts.length, 'lmcpp tokenize printed one line per text');
  const bad = [];
  texts.forEach((t, i) => {
    const want = encs[i].getIds().join(' ');
    if (want !== ours[i]) bad.push(`${label}: ${JSON.stringify(t)}\n  hf    ${want}\n  lmcpp ${ours[i]}`);
  });
  return bad;
}

async function compareDecode(entry, hf, ids, texts) {
  const bad = [];
  for (const skipSpecial of [false, true]) {
    const args = ['detokenize', '--tokenizer', entry.dir, '--json'];
    if (skipSpecial) args.push('--skip-special-tokens');
    const ours = lmcpp(args, ids.map((x) => x.join(' ')).join('\n') + '\n').map((l) => JSON.parse(l));
    for (let i = 0; i < ids.length; ++i) {
      const want = await hf.decode(ids[i], skipSpecial);
      if (want !== ours[i]) {
        bad.push(`${entry.name} decode(skip_special_tokens=${skipSpecial}) of ${JSON.stringify(texts[i])}\n` +
                 `  ids   ${ids[i].join(' ')}\n  hf    ${JSON.stringify(want)}\n  lmcpp ${JSON.stringify(ours[i])}`);
      }
    }
  }
  return bad;
}

function checkFiles(entry) {
  const dir = entry.dir;
  const tj = readJson(dir, 'tokenizer.json');
  for (const k of ['version', 'truncation', 'padding', 'added_tokens', 'normalizer', 'pre_tokenizer', 'post_processor',
                   'decoder', 'model'])
    assert.ok(k in tj, `tokenizer.json has "${k}"`);
  const cfg = readJson(dir, 'tokenizer_config.json');
  const map = readJson(dir, 'special_tokens_map.json');
  assert.equal(cfg.model_max_length, entry.max_length, 'tokenizer_config.json model_max_length');
  const added = new Map(tj.added_tokens.map((a) => [a.content, a.id]));
  // added_tokens_decoder: the added tokens of tokenizer.json, by id.
  assert.deepEqual(Object.keys(cfg.added_tokens_decoder).map(Number).sort((a, b) => a - b),
                   tj.added_tokens.map((a) => a.id).sort((a, b) => a - b), 'added_tokens_decoder ids');
  for (const a of tj.added_tokens) {
    const d = cfg.added_tokens_decoder[String(a.id)];
    assert.equal(d.content, a.content);
    assert.equal(d.special, a.special);
    for (const k of ['lstrip', 'rstrip', 'normalized', 'single_word']) assert.equal(typeof d[k], 'boolean', k);
  }
  let specials;
  if (entry.kind === 'bpe') {
    assert.equal(cfg.tokenizer_class, 'GPT2Tokenizer');
    assert.equal(cfg.add_prefix_space, false);
    assert.equal(tj.model.type, 'BPE');
    assert.deepEqual(tj.pre_tokenizer, { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true });
    assert.equal(tj.decoder.type, 'ByteLevel');
    assert.equal(tj.post_processor.type, 'ByteLevel');
    assert.ok(existsSync(path.join(dir, 'vocab.json')) && existsSync(path.join(dir, 'merges.txt')), 'vocab.json + merges.txt');
    specials = ['bos_token', 'eos_token', 'unk_token'];
    if (!entry.chat) for (const k of specials) assert.equal(cfg[k], '<|endoftext|>', k);
  } else {
    assert.equal(cfg.tokenizer_class, 'BertTokenizer');
    assert.equal(cfg.do_lower_case, entry.lowercase);
    assert.equal(tj.normalizer.lowercase, entry.lowercase);
    assert.equal(tj.model.type, 'WordPiece');
    assert.equal(tj.post_processor.type, 'TemplateProcessing');
    assert.ok(existsSync(path.join(dir, 'vocab.txt')), 'vocab.txt');
    specials = ['unk_token', 'cls_token', 'sep_token', 'pad_token', 'mask_token'];
  }
  for (const k of specials) {
    assert.equal(typeof cfg[k], 'string', `tokenizer_config.json ${k}`);
    assert.equal(map[k], cfg[k], `special_tokens_map.json ${k}`);
    assert.ok(added.has(cfg[k]), `${k} ${cfg[k]} is an added token of tokenizer.json`);
  }
  if (entry.chat) {
    assert.equal(cfg.eos_token, '<|im_end|>');
    assert.equal(typeof cfg.chat_template, 'string');
    assert.deepEqual(cfg.additional_special_tokens, ['<|im_start|>', '<|im_end|>']);
    const at = readJson(dir, 'added_tokens.json');
    for (const t of ['<|im_start|>', '<|im_end|>']) assert.equal(at[t], added.get(t), `added_tokens.json ${t}`);
  }
  if (entry.model) {
    const config = readJson(dir, 'config.json');
    assert.deepEqual(config.architectures, [entry.model]);
    assert.equal(config.torch_dtype, 'float32');
    assert.ok(config.vocab_size >= Math.max(...tj.added_tokens.map((a) => a.id)) + 1, 'vocab_size covers the tokens');
    if (entry.kind === 'bpe') {
      const gen = readJson(dir, 'generation_config.json');
      for (const k of ['bos_token_id', 'eos_token_id']) assert.equal(typeof gen[k], 'number', k);
      assert.equal(gen.eos_token_id, config.eos_token_id);
    }
  }
}

describe('Hugging Face tokenizers reads lmcpp directories', { skip }, () => {
  for (const entry of manifest) {
    test(`${entry.name}: tokenizer.json loads, ids and decode equal lmcpp's`, async (t) => {
      const hf = Tokenizer.fromFile(path.join(entry.dir, 'tokenizer.json'));
      const texts = [...hard, ...code, ...(entry.kind === 'bpe' ? chatTexts : [])];
      const encs = await hf.encodeBatch(texts, { addSpecialTokens: true });
      const ids = encs.map((e) => e.getIds());
      const bad = compareIds(entry.name, entry.dir, encs, texts);
      const classic = path.join(classicRoot, entry.name);
      const badClassic = compareIds(`${entry.name} (classic files)`, classic, encs, texts);
      const badDecode = await compareDecode(entry, hf, ids, texts);
      for (const line of [...bad, ...badClassic, ...badDecode]) console.log(line);
      t.diagnostic(`${entry.name}: ${texts.length} texts, ${bad.length} id mismatches (tokenizer.json), ` +
                   `${badClassic.length} (classic files), ${badDecode.length} decode mismatches`);
      assert.equal(bad.length, 0, `${bad.length} of ${texts.length} texts tokenized differently (printed above)`);
      assert.equal(badClassic.length, 0, `${badClassic.length} of ${texts.length} texts differ from the classic files`);
      assert.equal(badDecode.length, 0, `${badDecode.length} decodes differ (printed above)`);
    });
    test(`${entry.name}: files carry the keys transformers needs`, () => checkFiles(entry));
  }
});
