// Token ids of the ChatML golden renderings (tests/tokenize/chat_templates/goldens.json, template chatml.jinja)
// with the GPT-2 tokenizer plus the added special tokens <|im_start|> (50257) and <|im_end|> (50258), as
// transformers' apply_chat_template(tokenize=True) gives them: encode(rendered_text, add_special_tokens=False)
// by HF tokenizers (npm "tokenizers", the Rust library's native binding). Run by hand, like gen.mjs:
//
//   cd tests/reference/tokenizers && npm ci && LM_SHARED_DATA=/path/to/shared/data node gen_chat_ids.mjs
//
// Writes tests/tokenize/chat_templates/chatml_gpt2_ids.json: a list of
//   {"probe", "add_generation_prompt", "text", "hf_ids", "content", "chat_ids"}
// hf_ids: encode_chat_hf (special tokens matched anywhere). content: the [begin, end) byte ranges of the text
// that came from `messages` strings (each message's role and content, as the ChatML template places them).
// chat_ids: encode_chat's rule derived here: added tokens are matched only where they lie wholly outside the
// content ranges; the text between two kept matches is encoded as one piece by the same tokenizer without its
// added tokens (so pre-tokenization and BPE run across markup/content boundaries exactly as in hf_ids).
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const { Tokenizer } = require('tokenizers');

const here = path.dirname(new URL(import.meta.url).pathname);
const root = path.resolve(here, '../../..');
const shared = process.env.LM_SHARED_DATA || path.resolve(here, '../../../../shared/data');
const templates = path.join(root, 'tests/tokenize/chat_templates');

const ADDED = [
  { id: 50256, content: '<|endoftext|>', normalized: true },   // GPT-2's own (tokenizer.json: normalized true)
  { id: 50257, content: '<|im_start|>', normalized: false },   // add_special_tokens(): AddedToken(normalized=False)
  { id: 50258, content: '<|im_end|>', normalized: false },
];

function gpt2Json(added) {
  const vocab = JSON.parse(fs.readFileSync(path.join(shared, 'tokenizers/gpt2/encoder.json'), 'utf8'));
  const merges = fs.readFileSync(path.join(shared, 'tokenizers/gpt2/vocab.bpe'), 'utf8').split('\n')
    .filter((l, i) => l.length > 0 && !(i === 0 && l.startsWith('#version')));
  const bl = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  return {
    version: '1.0', truncation: null, padding: null,
    added_tokens: added.map((t) => ({ ...t, single_word: false, lstrip: false, rstrip: false, special: true })),
    normalizer: null, pre_tokenizer: bl, post_processor: bl, decoder: bl,
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '',
             fuse_unk: false, byte_fallback: false, vocab, merges },
  };
}
const withAdded = Tokenizer.fromString(JSON.stringify(gpt2Json(ADDED)));
const plain = Tokenizer.fromString(JSON.stringify(gpt2Json([])));
const noSpecial = { addSpecialTokens: false };

const utf8len = (s) => Buffer.byteLength(s, 'utf8');

// Content byte ranges of a ChatML rendering: '<|im_start|>' ROLE '\n' CONTENT '<|im_end|>' ['\n'] per message.
function contentRanges(text, messages) {
  const buf = Buffer.from(text, 'utf8');
  const ranges = [];
  let pos = 0;
  const expect = (s) => {
    const b = Buffer.from(s, 'utf8');
    if (!buf.subarray(pos, pos + b.length).equals(b)) throw new Error(`ChatML layout differs at byte ${pos}`);
    pos += b.length;
  };
  for (const m of messages) {
    expect('<|im_start|>');
    ranges.push([pos, pos + utf8len(m.role)]);
    expect(m.role);
    expect('\n');
    ranges.push([pos, pos + utf8len(m.content)]);
    expect(m.content);
    expect('<|im_end|>');
    expect('\n');
  }
  return ranges.filter(([b, e]) => e > b);
}

async function chatIds(text, ranges) {
  const buf = Buffer.from(text, 'utf8');
  const inContent = (b, e) => ranges.some(([rb, re]) => b < re && rb < e);
  const ids = [];
  let from = 0;
  const flush = async (to) => {
    if (to > from) ids.push(...(await plain.encode(buf.subarray(from, to).toString('utf8'), null, noSpecial)).getIds());
  };
  for (let i = 0; i < buf.length;) {
    const hit = ADDED.find((t) => buf.subarray(i, i + utf8len(t.content)).equals(Buffer.from(t.content, 'utf8')));
    if (hit && !inContent(i, i + utf8len(hit.content))) {
      await flush(i);
      ids.push(hit.id);
      i += utf8len(hit.content);
      from = i;
    } else {
      ++i;
    }
  }
  await flush(buf.length);
  return ids;
}

const goldens = JSON.parse(fs.readFileSync(path.join(templates, 'goldens.json'), 'utf8'));
const out = [];
for (const c of goldens) {
  if (c.template !== 'chatml.jinja' || c.text === undefined) continue;
  const hf = (await withAdded.encode(c.text, null, noSpecial)).getIds();
  const content = contentRanges(c.text, c.vars.messages);
  const chat = await chatIds(c.text, content);
  out.push({ probe: c.probe, add_generation_prompt: c.vars.add_generation_prompt, text: c.text, hf_ids: hf,
             content, chat_ids: chat });
}
const lines = out.map((o) => JSON.stringify(o));
fs.writeFileSync(path.join(templates, 'chatml_gpt2_ids.json'), '[\n' + lines.join(',\n') + '\n]\n');
const differ = out.filter((o) => o.hf_ids.join() !== o.chat_ids.join()).map((o) => o.probe);
console.log(`${out.length} renderings; chat_ids differ from hf_ids for: ${[...new Set(differ)].join(', ') || 'none'}`);
