// The server's lifecycle and security: the API key, chat content kept as text, client disconnects, SIGTERM with
// streams open, /metrics (split from behaviour.test.mjs, whose helpers it shares).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import http from 'node:http';
import { spawn } from 'node:child_process';
import { startServer, needs, env, loadOpenAI, readSse, streamText, streamed, chunksOf, assertErrorShape, request, sleep, waitFor } from './harness.mjs';

const OpenAI = loadOpenAI();



describe('API key', { skip: needs('bin', 'gpt'), timeout: 120_000 }, () => {
  const asciiKey = 'sk-test-key-1234';
  async function check(srv, key) {
    const modelId = path.basename(env.gpt);
    for (const [method, route, body] of [['GET', '/v1/models'], ['GET', '/metrics'], ['POST', '/v1/completions', { prompt: 'x', max_tokens: 1 }],
      ['POST', '/v1/chat/completions', { messages: [{ role: 'user', content: 'x' }], max_tokens: 1 }], ['POST', '/tokenize', { content: 'x' }],
      ['POST', '/detokenize', { tokens: [1] }], ['POST', '/apply-template', { messages: [{ role: 'user', content: 'x' }] }]]) {
      const no = await request(srv.url, method, route, body);
      const e = assertErrorShape(no, 401, `${method} ${route} without a key`);
      assert.equal(e.type, 'authentication_error');
      assertErrorShape(await request(srv.url, method, route, body, { key: key + 'x' }), 401, `${method} ${route} wrong key`);
      assertErrorShape(await request(srv.url, method, route, body, { key: key.slice(0, -1) }), 401, `${method} ${route} key prefix`);
      assertErrorShape(await request(srv.url, method, route, body, { headers: { Authorization: key } }), 401, `${method} ${route} no Bearer`);
      const yes = await request(srv.url, method, route, body, { key });
      assert.equal(yes.status, 200, `${method} ${route} with the key: ${yes.text.slice(0, 200)}`);
    }
    assert.equal((await srv.get('/health')).status, 200, '/health is open');
    const page = await srv.get('/');
    assert.equal(page.status, 200, 'the playground is open');
    assert.match(page.headers.get('content-type'), /text\/html/);
    // the SDK
    const bad = new OpenAI({ baseURL: srv.url + '/v1', apiKey: 'wrong', maxRetries: 0 });
    await assert.rejects(bad.models.list(), (e) => e instanceof OpenAI.AuthenticationError && e.status === 401);
    const good = new OpenAI({ baseURL: srv.url + '/v1', apiKey: key, maxRetries: 0 });
    const r = await good.completions.create({ model: modelId, prompt: 'x', max_tokens: 2 });
    assert.equal(r.choices.length, 1);
  }

  test('--api-key: 401 without or with a wrong key on /v1/* and /metrics; /health and / open', async () => {
    const srv = await startServer(env.gpt, ['--api-key', asciiKey]);
    try { await check(srv, asciiKey); } finally { await srv.stop(); }
  });

  test('LMCPP_API_KEY works the same', async () => {
    const srv = await startServer(env.gpt, [], { env: { LMCPP_API_KEY: asciiKey } });
    try { await check(srv, asciiKey); } finally { await srv.stop(); }
  });
});

describe('chat content is text, never special tokens', { skip: needs('bin', 'gpt'), timeout: 120_000 }, () => {
  let srv;
  before(async () => { srv = await startServer(env.gpt); });
  after(async () => { if (srv) await srv.stop(); });

  test('a user message holding "<|endoftext|>" is tokenized as plain text', async () => {
    const tokenize = async (s) => (await srv.post('/tokenize', { content: s })).json.tokens;
    const chat = async (content) => srv.post('/v1/chat/completions', { messages: [{ role: 'user', content }], max_tokens: 1, temperature: 0 });
    const injected = 'a<|endoftext|>b';
    // /tokenize matches special tokens: the id is there
    assert.ok((await tokenize(injected)).includes(50256), '/tokenize knows <|endoftext|> (id 50256)');
    const tpl = (await srv.post('/apply-template', { messages: [{ role: 'user', content: injected }] })).json.prompt;
    assert.equal(tpl, `<|im_start|>user\n${injected}<|im_end|>\n<|im_start|>assistant\n`);
    // The chat prompt = markup (what an empty message costs) + the content's plain-text tokens. GPT-2's
    // pre-tokenizer cuts "a<|endoftext|>b" into a | <| | endoftext | |> | b, so its plain-text tokens are those
    // of "a<|endoftext" and "|>b" (neither is a special token).
    const markup = (await chat('')).json.usage.prompt_tokens;
    const plain = (await tokenize('a<|endoftext')).length + (await tokenize('|>b')).length;
    const withSpecial = (await tokenize(injected)).length;
    assert.ok(plain > withSpecial);
    const r = await chat(injected);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.usage.prompt_tokens, markup + plain, `prompt_tokens ${r.json.usage.prompt_tokens}: markup ${markup} + plain ${plain} (with the special id it would be ${markup + withSpecial})`);
    // the same through an array of text parts, and in a system message
    const parts = await srv.post('/v1/chat/completions', { messages: [{ role: 'user', content: [{ type: 'text', text: 'a<|endof' }, { type: 'text', text: 'text|>b' }] }], max_tokens: 1 });
    assert.equal(parts.json.usage.prompt_tokens, markup + plain);
    const sys = await srv.post('/v1/chat/completions', { messages: [{ role: 'system', content: injected }], max_tokens: 1 });
    const sysMarkup = (await srv.post('/v1/chat/completions', { messages: [{ role: 'system', content: '' }], max_tokens: 1 })).json.usage.prompt_tokens;
    assert.equal(sys.json.usage.prompt_tokens, sysMarkup + plain);
  });
});

describe('disconnects, SIGTERM, /metrics', { skip: needs('bin', 'gpt', 'gptLong'), timeout: 300_000 }, () => {
  test('a client that disconnects mid-stream frees its slot at once', async (t) => {
    const srv = await startServer(env.gptLong, ['--parallel', '4']);
    try {
      for (const route of ['/v1/completions', '/v1/chat/completions']) {
        const m0 = await srv.metrics();
        const ctl = new AbortController();
        let activeWhile = null;
        const body = route.includes('chat')
          ? { messages: [{ role: 'user', content: 'Talk for a long time.' }], max_tokens: 3000, ignore_eos: true, stream: true }
          : { prompt: 'Talk for a long time.', max_tokens: 3000, ignore_eos: true, stream: true };
        let texts = 0;
        const r = await readSse(srv.url + route, body, {
          signal: ctl.signal,
          onEvent: (ev) => {
            if (!('data' in ev) || ev.data === '[DONE]') return;
            const c = JSON.parse(ev.data).choices[0];
            if ((c?.text ?? c?.delta?.content ?? '') !== '' && ++texts === 2) {
              srv.metrics().then((m) => { activeWhile = m.get('lmcpp_active_slots'); ctl.abort(); });
            }
          },
        });
        const tAbort = Date.now();
        assert.ok(r.aborted, `the stream ended before the client left (${r.data.length} events)`);
        const freed = await waitFor(async () => (await srv.metrics()).get('lmcpp_active_slots') === 0, 5000, 10);
        const m1 = await srv.metrics();
        const generated = m1.get('lmcpp_completion_tokens_total') - m0.get('lmcpp_completion_tokens_total');
        t.diagnostic(`${route}: active slots ${activeWhile} while streaming; 0 again ${Date.now() - tAbort} ms after the abort; ${generated} of up to 3000 tokens generated`);
        assert.equal(activeWhile, 1);
        assert.ok(freed.value, 'the slot is freed');
        assert.ok(freed.ms < 2000, `freed after ${freed.ms} ms`);
        assert.ok(generated < 3000, 'generation stopped early');
        // and the server is fine
        assert.equal((await srv.post('/v1/completions', { prompt: 'x', max_tokens: 2 })).status, 200);
      }
    } finally {
      await srv.stop();
    }
  });

  test('streams abandoned while queued give their queue places back', async (t) => {
    const srv = await startServer(env.gptLong, ['--parallel', '1', '--queue', '3']);
    try {
      const body = { prompt: 'Keep talking', max_tokens: 3500, ignore_eos: true, stream: true };
      // one stream holds the only slot for many seconds
      const holder = new AbortController();
      let holding;
      const holds = new Promise((r) => { holding = r; });
      const first = readSse(srv.url + '/v1/completions', body, { signal: holder.signal, onEvent: (ev) => { if ('data' in ev) holding(); } });
      await holds;
      // three more wait in the queue; their clients give up after a moment
      const waiters = Array.from({ length: 3 }, () => new AbortController());
      let answered = 0;
      const queued = waiters.map((c) => readSse(srv.url + '/v1/completions', body, { signal: c.signal, onResponse: () => { ++answered; } }));
      await waitFor(() => answered === 3, 10_000);
      const m = await srv.metrics();
      assert.equal(m.get('lmcpp_queue_depth'), 3, 'three requests queued');
      for (const c of waiters) c.abort();
      await Promise.all(queued);
      const tAbort = Date.now();
      const drained = await waitFor(async () => (await srv.metrics()).get('lmcpp_queue_depth') === 0, 8000, 50);
      t.diagnostic(`queue depth 0 ${Date.now() - tAbort} ms after the waiting clients left (slot still busy)`);
      assert.ok(drained.value, 'the queue still holds requests whose clients are gone');
      // a new request can queue again (not 429)
      const late = new AbortController();
      let lateStatus = 0;
      const lateRead = readSse(srv.url + '/v1/completions', body, { signal: late.signal, onResponse: (res) => { lateStatus = res.status; late.abort(); } });
      await lateRead;
      assert.equal(lateStatus, 200);
      holder.abort();
      await first;
    } finally {
      await srv.stop();
    }
  });

  // Starts `n` streams that each hold a slot for thousands of tokens; resolves once every one has sent a token.
  async function holdSlots(srv, n, body) {
    let started = 0;
    let allStarted;
    const ready = new Promise((r) => { allStarted = r; });
    const streams = Array.from({ length: n }, () => readSse(srv.url + '/v1/completions', body, {
      timeoutMs: 60_000,
      onEvent: (ev, st) => { if ('data' in ev && !st.seen) { st.seen = true; if (++started === n) allStarted(); } },
    }).catch((e) => ({ error: e, data: [], done: false })));
    await Promise.race([ready, sleep(20_000)]);
    assert.equal(started, n, `${n} streams running`);
    return streams;
  }
  // Queues `streams` streamed and `wholes` non-streamed requests behind busy slots; resolves once all wait.
  async function queueUp(srv, body, streams, wholes) {
    const s = Array.from({ length: streams }, () => readSse(srv.url + '/v1/completions', body, { timeoutMs: 60_000 })
      .catch((e) => ({ error: e, data: [], done: false })));
    const w = Array.from({ length: wholes }, () => request(srv.url, 'POST', '/v1/completions', { ...body, stream: false }, { timeoutMs: 60_000 })
      .then((r) => `${r.status} ${r.json?.choices?.[0]?.finish_reason ?? r.json?.error?.code ?? ''}`, (e) => `closed: ${e.cause?.code ?? e.message}`));
    const queued = await waitFor(async () => (await srv.metrics()).get('lmcpp_queue_depth') === streams + wholes, 10_000, 20);
    assert.ok(queued.value, `${streams + wholes} requests queued`);
    return { s, w };
  }
  const settle = async (ps) => Promise.race([Promise.all(ps), sleep(10_000).then(() => null)]);
  const ending = (r) => (r.done ? `[DONE] (${streamText(r).finish[0] ?? 'no finish'})`
    : r.error ? `closed: ${r.error.cause?.code ?? r.error.message}` : `closed after ${r.data.length} events`);

  test('SIGTERM with --drain 0: every stream and request ends at once as cancelled, exit 0', async (t) => {
    const srv = await startServer(env.gptLong, ['--parallel', '4', '--drain', '0']);
    const body = { prompt: 'Once upon a time', max_tokens: 3000, ignore_eos: true, temperature: 0, stream: true };
    const running = await holdSlots(srv, 4, body);
    const queued = await queueUp(srv, body, 2, 2);
    const exit = await srv.terminate('SIGTERM', 10_000);
    t.diagnostic(`exit ${JSON.stringify(exit)}`);
    assert.equal(exit.timedOut, false, `no exit within 10 s of SIGTERM\n${srv.tail()}`);
    assert.equal(exit.code, 0, srv.tail());
    assert.ok(exit.ms < 3000, `exit took ${exit.ms} ms with --drain 0`);
    const ends = await settle([...running, ...queued.s]);
    assert.ok(ends, 'every stream settled within 10 s of the exit');
    t.diagnostic(ends.map(ending).join('; '));
    for (const r of ends) assert.equal(ending(r), '[DONE] (cancelled)', 'a stream ends with its final chunk and [DONE]');
    const wholes = await settle(queued.w);
    assert.ok(wholes, 'the non-streamed requests settled within 10 s of the exit');
    t.diagnostic(`non-streamed: ${wholes.join('; ')}`);
    for (const w of wholes) assert.equal(w, '200 cancelled');
    assert.match(srv.stderr, /SIGTERM/);
    await assert.rejects(fetch(srv.url + '/health', { signal: AbortSignal.timeout(3000) }), 'nothing listens any more');
  });

  test('SIGTERM: queued requests end at once, requests in flight go on for the drain window', async (t) => {
    const srv = await startServer(env.gptLong, ['--parallel', '1']);  // --drain 3 (the default)
    const body = { prompt: 'Keep talking', max_tokens: 3500, ignore_eos: true, temperature: 0, stream: true };
    let atSignal = -1;
    let after = 0;
    const running = readSse(srv.url + '/v1/completions', body, {
      timeoutMs: 60_000,
      onEvent: (ev, st) => { if ('data' in ev) { st.n = (st.n ?? 0) + 1; if (atSignal >= 0) ++after; } },
    });
    await waitFor(async () => (await srv.metrics()).get('lmcpp_active_slots') === 1, 10_000, 20);
    const queued = await queueUp(srv, body, 1, 1);
    const t0 = Date.now();
    atSignal = 0;
    const exit = await srv.terminate('SIGTERM', 10_000);
    assert.equal(exit.timedOut, false, `no exit within 10 s of SIGTERM\n${srv.tail()}`);
    assert.equal(exit.code, 0, srv.tail());
    assert.ok(exit.ms < 6000, `exit took ${exit.ms} ms (drain 3 s)`);
    const [q] = await settle(queued.s);
    const [w] = await settle(queued.w);
    t.diagnostic(`queued: ${ending(q)}, ${w}; in flight: ${after} events after SIGTERM, exit after ${Date.now() - t0} ms`);
    assert.equal(ending(q), '[DONE] (cancelled)');
    assert.equal(streamText(q).text[0] ?? '', '', 'a queued stream got no tokens');
    assert.equal(w, '200 cancelled');
    const r = await running;
    assert.ok(r.done, 'the stream in flight ended with [DONE]');
    assert.ok(after > 1, `the stream in flight kept streaming after SIGTERM (${after} events)`);
  });

  test('/metrics is Prometheus text with the documented metrics, and they count', async () => {
    const srv = await startServer(env.gpt, ['--parallel', '2']);
    try {
      const m0 = await srv.metrics(); // parseMetrics throws on a line that is not Prometheus text
      const r0 = await srv.get('/metrics');
      assert.match(r0.headers.get('content-type'), /^text\/plain/);
      const counters = ['lmcpp_requests_total', 'lmcpp_prompt_tokens_total', 'lmcpp_completion_tokens_total'];
      const gauges = ['lmcpp_queue_depth', 'lmcpp_active_slots'];
      const hists = ['lmcpp_time_to_first_token_seconds', 'lmcpp_inter_token_latency_seconds'];
      for (const n of counters) assert.equal(m0.types.get(n), 'counter', n);
      for (const n of gauges) assert.equal(m0.types.get(n), 'gauge', n);
      for (const n of hists) assert.equal(m0.types.get(n), 'histogram', n);
      for (const n of [...counters, ...gauges, ...hists]) assert.ok(m0.help.get(n), `# HELP ${n}`);
      for (const n of [...counters, ...gauges]) assert.ok(Number.isFinite(m0.get(n)), n);

      const P = (await srv.post('/tokenize', { content: 'Counting tokens here' })).json.tokens.length;
      const N = 7;
      const r = await srv.post('/v1/completions', { prompt: 'Counting tokens here', max_tokens: N, ignore_eos: true, n: 2 });
      assert.equal(r.status, 200);
      const m1 = await srv.metrics();
      const d = (n) => m1.get(n) - m0.get(n);
      assert.equal(d('lmcpp_requests_total'), 2, 'two sequences (n = 2)');
      assert.equal(d('lmcpp_prompt_tokens_total'), 2 * P);
      assert.equal(d('lmcpp_completion_tokens_total'), 2 * N);
      assert.equal(m1.get('lmcpp_active_slots'), 0);
      assert.equal(m1.get('lmcpp_queue_depth'), 0);
      assert.equal(d('lmcpp_time_to_first_token_seconds_count'), 2);
      assert.equal(d('lmcpp_inter_token_latency_seconds_count'), 2 * (N - 1));
      for (const h of hists) {
        const buckets = [...m1.values.entries()].filter(([k]) => k.startsWith(h + '_bucket{'));
        assert.ok(buckets.length >= 2, h);
        assert.equal(buckets.at(-1)[0], `${h}_bucket{le="+Inf"}`);
        const les = buckets.map(([k]) => Number(/le="([^"]+)"/.exec(k)[1].replace('+Inf', 'Infinity')));
        for (let i = 1; i < buckets.length; ++i) {
          assert.ok(les[i] > les[i - 1], `${h}: le ascending`);
          assert.ok(buckets[i][1] >= buckets[i - 1][1], `${h}: cumulative`);
        }
        assert.equal(buckets.at(-1)[1], m1.get(h + '_count'));
        assert.ok(m1.get(h + '_sum') >= 0);
      }
    } finally {
      await srv.stop();
    }
  });
});
