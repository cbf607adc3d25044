// `lmcpp serve --adapter NAME=DIR ...`: two LoRA adapters and the bare model served at once over one shared model.
// Each request chooses by "lora" (or "adapter", or "model": NAME); temperature-0 completions per adapter equal
// `lmcpp generate --greedy --adapter DIR`, token by token; concurrent requests for different adapters (the
// scheduler runs one adapter's sequences per step) each get their own adapter's text; models.list names the
// adapters; an unknown adapter answers 404 with an OpenAI error object.
//
//   tests/server/run.sh BIN tests/server/lora.test.mjs
//
// The adapters are random PEFT directories (tests/reference/gen_lora_adapter.py, written by run.sh) with a
// non-zero B, so each changes the model's text.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { startServer, needs, env, loadOpenAI, cliJson, assertErrorShape } from './harness.mjs';

const OpenAI = loadOpenAI();
const FFFD = '\uFFFD';
const PROMPTS = ['The quick brown fox', 'Once upon a time,', 'Hello'];
const ADAPTERS = { one: () => env.lora1, two: () => env.lora2 };

describe('GPT server with two LoRA adapters', { skip: needs('bin', 'gpt', 'lora1', 'lora2'), timeout: 300_000 }, () => {
  let srv, oa, modelId;
  const pieces = async (ids) => Promise.all(ids.map(async (id) => (await srv.post('/detokenize', { tokens: [id] })).json.content));
  const greedy = (p, n, adapter) => cliJson(['generate', '--model', env.gpt, '--prompt', p, '--greedy', '--max-new-tokens',
    String(n), '--ignore-eos', ...(adapter ? ['--adapter', adapter] : [])]);
  const complete = (body) => oa.completions.create({ model: modelId, temperature: 0, ignore_eos: true, ...body });

  before(async () => {
    srv = await startServer(env.gpt, ['--parallel', '4', '--adapter', `one=${env.lora1}`, '--adapter', `two=${env.lora2}`]);
    oa = new OpenAI({ baseURL: srv.url + '/v1', apiKey: 'sk-unused', maxRetries: 0, timeout: 60_000 });
    modelId = path.basename(env.gpt);
  });
  after(async () => { if (srv) await srv.stop(); });

  test('models.list names the model and its adapters', async () => {
    const list = [];
    for await (const m of oa.models.list()) list.push(m);
    assert.deepEqual(list.map((m) => m.id), [modelId, 'one', 'two']);
    assert.equal(list[1].parent, modelId);
    assert.equal(list[1].meta.kind, 'lora');
  });

  test('temperature 0 per adapter equals `lmcpp generate --greedy --adapter DIR`, token by token', async () => {
    for (const [i, p] of PROMPTS.entries()) {
      const N = 10 + 3 * i;
      const texts = new Set();
      for (const name of [null, 'one', 'two']) {
        const cli = await greedy(p, N, name && ADAPTERS[name]());
        const r = await complete({ prompt: p, max_tokens: N, logprobs: 0, ...(name ? { lora: name } : {}) });
        const ch = r.choices[0];
        assert.equal(r.model, name ?? modelId);
        assert.equal(ch.text, cli.text, `${name ?? 'base'}, prompt ${JSON.stringify(p)}: server != lmcpp generate`);
        const want = await pieces(cli.ids);
        assert.equal(ch.logprobs.tokens.length, N);
        ch.logprobs.tokens.forEach((tok, k) => {
          if (tok.includes(FFFD) || want[k].includes(FFFD)) assert.ok(tok.includes(FFFD) && want[k].includes(FFFD), `token ${k}`);
          else assert.equal(tok, want[k], `${name ?? 'base'}: token ${k}`);
        });
        texts.add(ch.text);
      }
      assert.equal(texts.size, 3, `prompt ${JSON.stringify(p)}: the adapters should change the text`);
    }
  });

  test('"model": NAME and "adapter": NAME choose the adapter as "lora" does; chat too', async () => {
    const p = PROMPTS[0];
    const byLora = (await complete({ prompt: p, max_tokens: 8, lora: 'two' })).choices[0].text;
    const byModel = await oa.completions.create({ model: 'two', prompt: p, max_tokens: 8, temperature: 0, ignore_eos: true });
    assert.equal(byModel.choices[0].text, byLora);
    assert.equal(byModel.model, 'two');
    assert.equal((await complete({ prompt: p, max_tokens: 8, adapter: 'two' })).choices[0].text, byLora);
    const msgs = [{ role: 'user', content: 'Hi there' }];
    const chat = async (extra) => (await oa.chat.completions.create({ model: modelId, messages: msgs, max_tokens: 8, temperature: 0, ...extra })).choices[0].message.content;
    const base = await chat({});
    const one = await chat({ lora: 'one' });
    assert.equal(await chat({ model: 'one' }), one);
    assert.notEqual(one, base);
  });

  test('concurrent requests for different adapters each get their own adapter\'s text', async () => {
    const N = 24;
    const want = {};
    for (const name of ['base', 'one', 'two']) {
      want[name] = (await complete({ prompt: PROMPTS[1], max_tokens: N, ...(name === 'base' ? {} : { lora: name }) })).choices[0].text;
    }
    const order = ['one', 'two', 'base', 'two', 'one', 'base', 'one', 'two', 'two', 'one', 'base', 'one'];
    const got = await Promise.all(order.map(async (name, k) => {
      const stream = k % 2 === 1;
      const body = { prompt: PROMPTS[1], max_tokens: N, stream, ...(name === 'base' ? {} : { lora: name }) };
      if (!stream) return (await complete(body)).choices[0].text;
      let text = '';
      for await (const c of await complete(body)) text += c.choices[0]?.text ?? '';
      return text;
    }));
    order.forEach((name, k) => assert.equal(got[k], want[name], `request ${k} (${name})`));
  });

  test('an unknown adapter answers 404 with an OpenAI error object; a bad field 400', async () => {
    const r = await srv.post('/v1/completions', { prompt: 'x', max_tokens: 2, lora: 'nope' });
    assertErrorShape(r, 404, 'unknown adapter');
    assert.equal(r.json.error.code, 'adapter_not_found');
    assert.match(r.json.error.message, /'nope'.*'one', 'two'/);
    assertErrorShape(await srv.post('/v1/completions', { prompt: 'x', max_tokens: 2, model: 'nope' }), 400, 'unknown model');
    assertErrorShape(await srv.post('/v1/completions', { prompt: 'x', max_tokens: 2, lora: 3 }), 400, 'lora: a number');
    assertErrorShape(await srv.post('/v1/completions', { prompt: 'x', max_tokens: 2, model: 'one', lora: 'two' }), 400, 'two adapters');
    // The SDK sees the 404 as NotFoundError.
    await assert.rejects(complete({ prompt: 'x', max_tokens: 2, lora: 'nope' }), (e) => e.status === 404);
  });
});
