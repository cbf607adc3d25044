// `lmcpp serve` through the official OpenAI SDK for Node (openai v4): completions and chat completions, streamed
// and not, n, logprobs, stop strings, models.list, greedy output equal to `lmcpp generate --greedy`; embeddings,
// /predict (equal to `lmcpp predict`), /fill-mask on BERT servers; routes a model cannot serve answer 400.
//
//   tests/server/run.sh BIN tests/server/openai.test.mjs
//
// The models are small random-weight ones (tests/server/run.sh writes them), so the texts are gibberish; what is
// checked is that they are the same text along every path.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { startServer, needs, env, loadOpenAI, cliJson, readSse, streamText, chunksOf, assertErrorShape } from './harness.mjs';

const OpenAI = loadOpenAI();
const client = (srv, opts = {}) => new OpenAI({ baseURL: srv.url + '/v1', apiKey: opts.apiKey ?? 'sk-unused', maxRetries: 0, timeout: 60_000 });
const FFFD = '\uFFFD';

const PROMPTS = ['The quick brown fox', 'Once upon a time, in a land far away,', 'def fibonacci(n):', 'Hello'];

describe('GPT server through the OpenAI SDK', { skip: needs('bin', 'gpt'), timeout: 300_000 }, () => {
  let srv, oa, modelId;
  const tokenize = async (s) => (await srv.post('/tokenize', { content: s })).json.tokens;
  // The text of each id alone, as /detokenize gives it.
  const pieces = async (ids) => Promise.all(ids.map(async (id) => (await srv.post('/detokenize', { tokens: [id] })).json.content));
  const complete = (body) => oa.completions.create({ model: modelId, temperature: 0, ignore_eos: true, ...body });
  const collect = async (stream) => {
    const chunks = [];
    for await (const c of stream) chunks.push(c);
    return chunks;
  };

  before(async () => {
    srv = await startServer(env.gpt, ['--parallel', '4']);
    oa = client(srv);
    modelId = path.basename(env.gpt);
  });
  after(async () => { if (srv) await srv.stop(); });

  test('models.list names the model', async () => {
    const list = [];
    for await (const m of oa.models.list()) list.push(m);
    assert.equal(list.length, 1);
    assert.equal(list[0].id, modelId);
    assert.equal(list[0].object, 'model');
    assert.equal(typeof list[0].owned_by, 'string');
    assert.equal(list[0].meta.kind, 'causal-lm');
    assert.equal(list[0].meta.n_ctx, 256);
  });

  test('temperature 0 equals `lmcpp generate --greedy` (text prompt and id prompt)', async () => {
    for (const [i, p] of PROMPTS.entries()) {
      const N = 12 + 4 * i;
      const cli = await cliJson(['generate', '--model', env.gpt, '--prompt', p, '--greedy', '--max-new-tokens', String(N), '--ignore-eos']);
      assert.equal(cli.ids.length, N);
      const r = await complete({ prompt: p, max_tokens: N, logprobs: 0 });
      const ch = r.choices[0];
      assert.equal(ch.text, cli.text, `prompt ${JSON.stringify(p)}: server text != lmcpp generate text`);
      assert.equal(ch.finish_reason, 'length');
      // token by token: the server's logprobs tokens are the texts of the CLI's ids
      const want = await pieces(cli.ids);
      assert.equal(ch.logprobs.tokens.length, N);
      ch.logprobs.tokens.forEach((tok, k) => {
        if (tok.includes(FFFD) || want[k].includes(FFFD)) assert.ok(tok.includes(FFFD) && want[k].includes(FFFD), `token ${k}`);
        else assert.equal(tok, want[k], `prompt ${JSON.stringify(p)}: token ${k}`);
      });
      const ptoks = await tokenize(p);
      assert.deepEqual(r.usage, { prompt_tokens: ptoks.length, completion_tokens: N, total_tokens: ptoks.length + N });

      // the prompt as token ids (and `lmcpp generate --ids`)
      const ids = ptoks.concat([11, 290]);
      const cli2 = await cliJson(['generate', '--model', env.gpt, '--ids', ids.join(','), '--greedy', '--max-new-tokens', String(N), '--ignore-eos']);
      const r2 = await complete({ prompt: ids, max_tokens: N });
      assert.equal(r2.choices[0].text, cli2.text, `ids ${ids}: server text != lmcpp generate text`);
      assert.equal(r2.usage.prompt_tokens, ids.length);
    }
  });

  test('completions: the streamed text equals the non-streamed text; usage with include_usage', async () => {
    for (const p of PROMPTS) {
      const whole = await complete({ prompt: p, max_tokens: 40 });
      const chunks = await collect(await complete({ prompt: p, max_tokens: 40, stream: true, stream_options: { include_usage: true } }));
      let text = '';
      const finishes = [];
      for (const c of chunks.slice(0, -1)) {
        assert.equal(c.object, 'text_completion');
        assert.equal(c.id, chunks[0].id, 'one id across the chunks');
        assert.equal(c.usage, null, 'usage is null on the chunks before the last');
        assert.equal(c.choices.length, 1);
        text += c.choices[0].text;
        if (c.choices[0].finish_reason) finishes.push(c.choices[0].finish_reason);
      }
      const last = chunks.at(-1);
      assert.deepEqual(last.choices, [], 'the usage chunk has no choices');
      assert.deepEqual(last.usage, whole.usage);
      assert.equal(text, whole.choices[0].text);
      assert.deepEqual(finishes, ['length'], 'one finish_reason, in the final choice chunk');
      // without include_usage: no usage chunk
      const plain = await collect(await complete({ prompt: p, max_tokens: 40, stream: true }));
      assert.ok(plain.every((c) => c.choices.length === 1 && !c.usage));
      assert.equal(plain.map((c) => c.choices[0].text).join(''), whole.choices[0].text);
    }
  });

  test('multi-byte characters: never split across chunks; streamed == non-streamed == lmcpp generate', async (t) => {
    // Prompts of scattered ids make this random model emit byte-level tokens: characters built from several
    // tokens (and some bytes that never form one). Take the first prompts whose text has non-ASCII in it.
    let checked = 0;
    for (let s = 0; s < 60 && checked < 8; ++s) {
      const ids = Array.from({ length: 6 }, (_, k) => (s * 7919 + k * 104729) % 50000);
      const whole = await complete({ prompt: ids, max_tokens: 48 });
      const text = whole.choices[0].text;
      if (!/[^\x00-\x7f]/.test(text)) continue;
      ++checked;
      const r = await readSse(srv.url + '/v1/completions', { prompt: ids, max_tokens: 48, temperature: 0, ignore_eos: true, stream: true });
      assert.ok(r.done);
      const pieces = chunksOf(r).map((c) => c.choices[0].text);
      assert.equal(pieces.join(''), text, `ids ${ids}: streamed != non-streamed`);
      // a chunk boundary inside a character would turn both halves into U+FFFD
      assert.equal(pieces.join('').split(FFFD).length, text.split(FFFD).length);
      const cli = await cliJson(['generate', '--model', env.gpt, '--ids', ids.join(','), '--greedy', '--max-new-tokens', '48', '--ignore-eos']);
      assert.equal(cli.text, text, `ids ${ids}: lmcpp generate text != server text`);
      if (checked === 1) t.diagnostic(`e.g. ${JSON.stringify(text.slice(0, 60))} in ${pieces.length} chunks`);
    }
    assert.ok(checked >= 3, `only ${checked} prompts gave non-ASCII text`);
  });

  test('chat completions: streamed equals non-streamed; roles, finish_reason, usage', async () => {
    const messages = [
      { role: 'system', content: 'You are terse.' },
      { role: 'user', content: 'Name three colours.' },
    ];
    const whole = await oa.chat.completions.create({ model: modelId, messages, temperature: 0, max_tokens: 30, ignore_eos: true });
    assert.equal(whole.object, 'chat.completion');
    assert.match(whole.id, /^chatcmpl-/);
    assert.equal(whole.choices.length, 1);
    assert.equal(whole.choices[0].message.role, 'assistant');
    assert.equal(typeof whole.choices[0].message.content, 'string');
    assert.equal(whole.choices[0].finish_reason, 'length');
    assert.equal(whole.usage.completion_tokens, 30);

    // the chat prompt is the built-in ChatML rendering, tokenized whole (this tokenizer has no ChatML special
    // tokens, and no content holds special-token text): those ids, sent to /v1/completions, give the same reply
    const tpl = (await srv.post('/apply-template', { messages })).json.prompt;
    assert.equal(tpl, '<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nName three colours.<|im_end|>\n<|im_start|>assistant\n');
    const ids = await tokenize(tpl);
    assert.equal(whole.usage.prompt_tokens, ids.length);
    const viaCompletion = await complete({ prompt: ids, max_tokens: 30 });
    assert.equal(viaCompletion.choices[0].text, whole.choices[0].message.content);

    const chunks = await collect(await oa.chat.completions.create({
      model: modelId, messages, temperature: 0, max_tokens: 30, ignore_eos: true, stream: true, stream_options: { include_usage: true },
    }));
    assert.deepEqual(chunks[0].choices[0].delta, { role: 'assistant', content: '' }, 'the first chunk announces the role');
    let text = '';
    const finishes = [];
    for (const c of chunks.slice(0, -1)) {
      assert.equal(c.object, 'chat.completion.chunk');
      text += c.choices[0].delta.content ?? '';
      if (c.choices[0].finish_reason) finishes.push(c.choices[0].finish_reason);
    }
    assert.equal(text, whole.choices[0].message.content);
    assert.deepEqual(finishes, ['length']);
    assert.deepEqual(chunks.at(-1).usage, whole.usage);

    // without max_tokens a chat reply may run to the context's end; a stop string ends it here
    const stopAt = whole.choices[0].message.content.slice(4, 8);
    if (stopAt.trim().length === 4) {
      const r = await oa.chat.completions.create({ model: modelId, messages, temperature: 0, stop: stopAt, ignore_eos: true });
      assert.equal(r.choices[0].finish_reason, 'stop');
      assert.equal(r.choices[0].message.content, whole.choices[0].message.content.slice(0, whole.choices[0].message.content.indexOf(stopAt)));
    }
  });

  test('n = 2: two choices, each equal to the single result at temperature 0; seeded sampling repeats', async () => {
    const p = PROMPTS[1];
    const one = await complete({ prompt: p, max_tokens: 20 });
    const two = await complete({ prompt: p, max_tokens: 20, n: 2 });
    assert.deepEqual(two.choices.map((c) => c.index), [0, 1]);
    for (const c of two.choices) assert.equal(c.text, one.choices[0].text);
    assert.equal(two.usage.completion_tokens, 40);
    assert.equal(two.usage.prompt_tokens, one.usage.prompt_tokens, 'the prompt counts once');

    const r = await readSse(srv.url + '/v1/completions', { prompt: p, max_tokens: 20, n: 2, temperature: 0, ignore_eos: true, stream: true });
    assert.equal(r.status, 200);
    assert.ok(r.done, 'ends with [DONE]');
    const st = streamText(r);
    assert.deepEqual(st.text, { 0: one.choices[0].text, 1: one.choices[0].text });
    assert.deepEqual(st.finish, { 0: 'length', 1: 'length' });

    const sampled = { prompt: p, max_tokens: 20, n: 2, temperature: 1.0, seed: 1234 };
    const a = await complete(sampled);
    const b = await complete(sampled);
    assert.deepEqual(a.choices.map((c) => c.text), b.choices.map((c) => c.text), 'the same seed gives the same samples');
    const chat = await oa.chat.completions.create({ model: modelId, messages: [{ role: 'user', content: 'hi' }], max_tokens: 5, n: 2, temperature: 0 });
    assert.equal(chat.choices.length, 2);
    assert.equal(chat.choices[0].message.content, chat.choices[1].message.content);
  });

  test('logprobs: completions (tokens, token_logprobs, top_logprobs, text_offset) and chat (content[])', async () => {
    const N = 10;
    const r = await complete({ prompt: PROMPTS[0], max_tokens: N, logprobs: 3 });
    const lp = r.choices[0].logprobs;
    assert.deepEqual(Object.keys(lp).sort(), ['text_offset', 'token_logprobs', 'tokens', 'top_logprobs']);
    for (const k of Object.keys(lp)) assert.equal(lp[k].length, N, k);
    for (let i = 0; i < N; ++i) {
      assert.ok(Number.isFinite(lp.token_logprobs[i]) && lp.token_logprobs[i] <= 0);
      const top = Object.values(lp.top_logprobs[i]);
      assert.ok(top.length >= 1 && top.length <= 3);
      // greedy: the chosen token is the most likely one
      assert.ok(Math.abs(Math.max(...top) - lp.token_logprobs[i]) < 1e-5, `token ${i}: chosen ${lp.token_logprobs[i]} top ${top}`);
      if (i > 0) assert.ok(lp.text_offset[i] >= lp.text_offset[i - 1]);
    }
    if (!lp.tokens.join('').includes(FFFD)) assert.equal(lp.tokens.join(''), r.choices[0].text);
    // text_offset: each choice's own, from 0, advancing by each token's (UTF-8) length; n = 2, whole and streamed
    const byteOffsets = (tokens) => tokens.reduce((a, tk) => [...a, a.at(-1) + Buffer.byteLength(tk)], [0]).slice(0, -1);
    const two = await complete({ prompt: PROMPTS[0], max_tokens: N, logprobs: 1, n: 2 });
    for (const ch of two.choices) {
      assert.deepEqual(ch.logprobs.tokens, lp.tokens);
      if (!lp.tokens.join('').includes(FFFD)) assert.deepEqual(ch.logprobs.text_offset, byteOffsets(lp.tokens), `choice ${ch.index}`);
      assert.equal(ch.logprobs.text_offset[0], 0, `choice ${ch.index} starts at 0`);
    }
    const st = await readSse(srv.url + '/v1/completions', { prompt: PROMPTS[0], max_tokens: N, logprobs: 1, n: 2, temperature: 0, ignore_eos: true, stream: true });
    const offs = { 0: [], 1: [] };
    for (const c of chunksOf(st)) if (c.choices[0].logprobs) offs[c.choices[0].index].push(...c.choices[0].logprobs.text_offset);
    assert.deepEqual(offs[1], offs[0], 'streamed: each choice has its own offsets');
    assert.deepEqual(offs[0], two.choices[0].logprobs.text_offset);

    const c = await oa.chat.completions.create({
      model: modelId, messages: [{ role: 'user', content: 'Count to five.' }], temperature: 0, max_tokens: N, ignore_eos: true,
      logprobs: true, top_logprobs: 2,
    });
    const content = c.choices[0].logprobs.content;
    assert.equal(content.length, N);
    for (const e of content) {
      assert.deepEqual(Object.keys(e).sort(), ['bytes', 'logprob', 'token', 'top_logprobs']);
      assert.ok(Array.isArray(e.bytes) && e.bytes.every((b) => Number.isInteger(b) && b >= 0 && b < 256));
      if (!e.token.includes(FFFD)) assert.equal(Buffer.from(e.bytes).toString('utf8'), e.token);
      assert.equal(e.top_logprobs.length, 2);
      assert.ok(e.top_logprobs[0].logprob >= e.top_logprobs[1].logprob);
      assert.ok(Math.abs(e.top_logprobs[0].logprob - e.logprob) < 1e-5);
      assert.deepEqual(e.top_logprobs[0].bytes, e.bytes);
    }
    const joined = Buffer.concat(content.map((e) => Buffer.from(e.bytes))).toString('utf8');
    assert.equal(joined, c.choices[0].message.content, 'the tokens\' bytes add up to the text');

    // streamed: the same entries, spread over the chunks
    const chunks = await collect(await oa.chat.completions.create({
      model: modelId, messages: [{ role: 'user', content: 'Count to five.' }], temperature: 0, max_tokens: N, ignore_eos: true,
      logprobs: true, top_logprobs: 2, stream: true,
    }));
    const streamed = chunks.flatMap((k) => k.choices[0]?.logprobs?.content ?? []);
    assert.deepEqual(streamed.map((e) => e.token), content.map((e) => e.token));
    for (let i = 0; i < N; ++i) assert.ok(Math.abs(streamed[i].logprob - content[i].logprob) < 1e-6);

    // no logprobs asked: null
    const plain = await oa.chat.completions.create({ model: modelId, messages: [{ role: 'user', content: 'x' }], max_tokens: 2 });
    assert.equal(plain.choices[0].logprobs, null);
  });

  test('stop strings: cut before the stop, finish_reason stop, streamed == non-streamed', async () => {
    const N = 48;
    // a prompt whose greedy text has no broken characters (token texts then add up to the text)
    let p, full;
    for (p of [...PROMPTS, 'It was a bright cold day in April', 'Lorem ipsum dolor sit amet']) {
      full = await complete({ prompt: p, max_tokens: N, logprobs: 0 });
      if (!full.choices[0].text.includes(FFFD) && full.choices[0].logprobs.tokens.join('') === full.choices[0].text) break;
      full = null;
    }
    assert.ok(full, 'no prompt gave a text without broken characters');
    const text = full.choices[0].text;
    const toks = full.choices[0].logprobs.tokens;
    // a stop inside one token, one across a token boundary, a list, and one that never appears
    let at = 0;
    const starts = toks.map((t) => { const s = at; at += t.length; return s; });
    const k = toks.findIndex((t, i) => i >= 6 && t.trim().length >= 3 && toks[i + 1]?.length >= 2);
    assert.ok(k > 0, `no token to build stops from in ${JSON.stringify(toks)}`);
    const inside = toks[k].trim().slice(0, 3);
    const across = text.slice(starts[k + 1] - 2, starts[k + 1] + 2);
    const cases = [
      { stop: inside, first: text.indexOf(inside) },
      { stop: across, first: text.indexOf(across) },
      { stop: ['\u2603never\u2603', across], first: text.indexOf(across) },
      { stop: '\u2603not in the text\u2603', first: -1 },
      // the text's end could begin this stop: held back while streaming, then flushed when max_tokens ends it
      { stop: text.slice(-3) + '\u2603', first: -1 },
      // a token that begins the stop appears mid-text: held back, then released when the next token breaks it
      { stop: toks[k] + '\u2603', first: -1 },
    ];
    for (const c of cases) {
      const want = c.first < 0 ? text : text.slice(0, c.first);
      const r = await complete({ prompt: p, max_tokens: N, stop: c.stop });
      const what = `stop ${JSON.stringify(c.stop)} in ${JSON.stringify(text)}`;
      assert.equal(r.choices[0].text, want, what);
      assert.equal(r.choices[0].finish_reason, c.first < 0 ? 'length' : 'stop', what);
      for (const s of [c.stop].flat()) assert.ok(!r.choices[0].text.includes(s), `${what}: the text holds the stop`);
      if (c.first >= 0) assert.ok(r.usage.completion_tokens < N, `${what}: the stop ended generation mid-way`);

      // streamed, read raw: same text, and no chunk ever carried a piece of the stop that was later taken back
      const s = await readSse(srv.url + '/v1/completions', { prompt: p, max_tokens: N, stop: c.stop, temperature: 0, ignore_eos: true, stream: true });
      assert.ok(s.done, `${what}: stream ends with [DONE]`);
      const st = streamText(s);
      assert.equal(st.text[0], want, `${what}: streamed`);
      assert.equal(st.finish[0], r.choices[0].finish_reason);
      for (const ch of chunksOf(s)) assert.equal(typeof ch.choices[0].text, 'string');
    }
  });

  test('embeddings, /predict, /fill-mask and /qa on a GPT server: 400', async () => {
    await assert.rejects(oa.embeddings.create({ model: modelId, input: 'x' }), (e) => e instanceof OpenAI.BadRequestError && e.status === 400);
    for (const route of ['/v1/embeddings', '/predict', '/fill-mask', '/qa']) {
      const r = await srv.post(route, { input: 'x', inputs: 'x', question: 'q', context: 'c' });
      const e = assertErrorShape(r, 400, route);
      assert.match(e.message, /encoder/, `${route}: the message says why`);
    }
  });
});

describe('BERT classifier server: embeddings and /predict', { skip: needs('bin', 'bertCls'), timeout: 300_000 }, () => {
  let srv, oa, modelId;
  const norm = (v) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));
  before(async () => {
    srv = await startServer(env.bertCls);
    oa = client(srv);
    modelId = path.basename(env.bertCls);
  });
  after(async () => { if (srv) await srv.stop(); });

  test('embeddings through the SDK: base64 (its default) and float agree, unit norm', async () => {
    const input = ['a good film', 'a bad film', 'the weather in paris'];
    const b = await oa.embeddings.create({ model: modelId, input }); // SDK: asks base64, decodes to floats
    const f = await oa.embeddings.create({ model: modelId, input, encoding_format: 'float' });
    assert.equal(b.object, 'list');
    assert.equal(b.model, modelId);
    assert.ok(b.usage.prompt_tokens > 0 && b.usage.total_tokens === b.usage.prompt_tokens);
    assert.equal(b.data.length, 3);
    for (let i = 0; i < 3; ++i) {
      assert.equal(b.data[i].object, 'embedding');
      assert.equal(b.data[i].index, i);
      assert.equal(b.data[i].embedding.length, 64);
      assert.equal(f.data[i].embedding.length, 64);
      assert.ok(Math.abs(norm(f.data[i].embedding) - 1) < 1e-4, `|e${i}| = ${norm(f.data[i].embedding)}`);
      // float32 values: the JSON numbers round to exactly the base64 floats
      assert.deepEqual(f.data[i].embedding.map(Math.fround), Array.from(b.data[i].embedding), `item ${i}: float != base64`);
    }
    assert.notDeepEqual(f.data[0].embedding, f.data[2].embedding);
    // `lmcpp embed --normalize` gives the same numbers as the server
    for (let i = 0; i < 3; ++i) {
      const cli = await cliJson(['embed', '--model', env.bertCls, '--text', input[i], '--normalize']);
      assert.deepEqual(cli.embedding.map(Math.fround), f.data[i].embedding.map(Math.fround), `lmcpp embed item ${i}`);
    }

    // base64 asked explicitly: the raw string, little-endian float32
    const raw = await srv.post('/v1/embeddings', { model: modelId, input: input[0], encoding_format: 'base64' });
    assert.equal(raw.status, 200);
    const buf = Buffer.from(raw.json.data[0].embedding, 'base64');
    assert.equal(buf.length, 64 * 4);
    const vals = Array.from({ length: 64 }, (_, i) => buf.readFloatLE(4 * i));
    assert.deepEqual(vals, Array.from(b.data[0].embedding));

    // the same text alone gives the same vector; token ids give the text's vector; cls pooling differs, normalised
    const one = await oa.embeddings.create({ model: modelId, input: input[1], encoding_format: 'float' });
    assert.deepEqual(one.data[0].embedding, f.data[1].embedding);
    const ids = (await srv.post('/tokenize', { content: input[1] })).json.tokens;
    const byIds = await srv.post('/v1/embeddings', { input: ids });
    assert.deepEqual(byIds.json.data[0].embedding, f.data[1].embedding);
    const cls = await srv.post('/v1/embeddings', { input: input[1], pooling: 'cls' });
    assert.equal(cls.status, 200);
    assert.ok(Math.abs(norm(cls.json.data[0].embedding) - 1) < 1e-4);
    assert.notDeepEqual(cls.json.data[0].embedding, f.data[1].embedding);

    await assert.rejects(oa.embeddings.create({ model: 'no-such-model', input: 'x' }), (e) => e.status === 400);
    await assert.rejects(oa.embeddings.create({ model: modelId, input: 'x', encoding_format: 'int8' }), (e) => e.status === 400);
  });

  test('/predict equals `lmcpp predict --json` (a text and a pair)', async () => {
    for (const inputs of ['This was a wonderful film.', 'awful', ['good film', 'bad'], ['a question?', 'an answer.']]) {
      const r = await srv.post('/predict', { inputs });
      assert.equal(r.status, 200, r.text);
      const args = ['predict', '--model', env.bertCls, '--text', [inputs].flat()[0]];
      if (Array.isArray(inputs)) args.push('--text-pair', inputs[1]);
      const cli = await cliJson(args);
      assert.ok(Array.isArray(r.json) && r.json.length === 2);
      assert.deepEqual(r.json.map((x) => x.label).sort(), ['negative', 'positive']);
      assert.ok(r.json[0].score >= r.json[1].score, 'best first');
      assert.equal(r.json[0].label, cli.label);
      for (const { label, score } of r.json) assert.ok(Math.abs(score - cli.probabilities[label]) < 1e-6, `${JSON.stringify(inputs)} ${label}: ${score} vs ${cli.probabilities[label]}`);
      assert.ok(Math.abs(r.json[0].score + r.json[1].score - 1) < 1e-5);
    }
    assertErrorShape(await srv.post('/predict', { inputs: 5 }), 400, 'inputs: 5');
    assertErrorShape(await srv.post('/predict', { inputs: ['a', 'b', 'c'] }), 400, 'three inputs');
  });

  test('/fill-mask and /qa on a classifier, completions and chat on BERT: 400 with a clear message', async () => {
    for (const route of ['/fill-mask', '/qa']) {
      const e = assertErrorShape(await srv.post(route, { inputs: 'a [MASK] b', question: 'q?', context: 'c' }), 400, route);
      assert.match(e.message, /needs/);
    }
    await assert.rejects(oa.completions.create({ model: modelId, prompt: 'x' }), (e) => e instanceof OpenAI.BadRequestError && /causal/.test(e.message));
    await assert.rejects(oa.chat.completions.create({ model: modelId, messages: [{ role: 'user', content: 'x' }] }), (e) => e.status === 400);
    const list = [];
    for await (const m of oa.models.list()) list.push(m);
    assert.equal(list[0].meta.kind, 'encoder');
    assert.deepEqual(list[0].meta.labels, ['negative', 'positive']);
  });
});

describe('BERT masked-LM server: /fill-mask', { skip: needs('bin', 'bertMlm'), timeout: 300_000 }, () => {
  let srv;
  before(async () => { srv = await startServer(env.bertMlm); });
  after(async () => { if (srv) await srv.stop(); });

  test('/fill-mask candidates equal `lmcpp predict --json`', async () => {
    const text = 'paris is the [MASK] of france.';
    const r = await srv.post('/fill-mask', { inputs: text });
    assert.equal(r.status, 200, r.text);
    const cli = await cliJson(['predict', '--model', env.bertMlm, '--text', text]);
    const want = cli.masks[0].candidates;
    assert.equal(r.json.length, 5);
    r.json.forEach((c, i) => {
      assert.deepEqual(Object.keys(c).sort(), ['score', 'sequence', 'token', 'token_str']);
      assert.equal(c.token, want[i].id);
      assert.ok(Math.abs(c.score - want[i].probability) < 1e-9);
      assert.equal(c.token_str, want[i].token.replace(/^##/, ''));
      assert.equal(c.sequence, text.replace('[MASK]', c.token_str));
      if (i > 0) assert.ok(c.score <= r.json[i - 1].score);
    });
    const top3 = await srv.post('/fill-mask', { inputs: text, top_k: 3 });
    assert.deepEqual(top3.json, r.json.slice(0, 3));
    // two masks: one list per mask
    const two = await srv.post('/fill-mask', { inputs: 'the [MASK] sat on the [MASK].', top_k: 2 });
    assert.equal(two.status, 200);
    assert.equal(two.json.length, 2);
    assert.ok(two.json.every((l) => Array.isArray(l) && l.length === 2));
    assert.ok(two.json[1][0].sequence.startsWith('the [MASK] sat on the '), 'the second list fills the second mask');
    assertErrorShape(await srv.post('/fill-mask', { inputs: 'no mask here' }), 400, 'no mask');
    assertErrorShape(await srv.post('/fill-mask', { inputs: text, top_k: 0 }), 400, 'top_k 0');
    assertErrorShape(await srv.post('/predict', { inputs: 'x' }), 400, '/predict on a masked LM');
  });
});
