// `lmcpp serve` under concurrency and bad input: 16 parallel streams each equal to its solo run, requests
// joining mid-stream, the bad-input matrix (400 with an OpenAI error object, exceed_context_size_error, 413,
// 429 with Retry-After, request timeout), start-up and the listening socket. The API key, chat content,
// disconnects, SIGTERM and /metrics are in lifecycle.test.mjs.
//
//   tests/server/run.sh BIN tests/server/behaviour.test.mjs

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import http from 'node:http';
import { spawn } from 'node:child_process';
import { startServer, needs, env, loadOpenAI, readSse, streamText, streamed, chunksOf, assertErrorShape, request, sleep, waitFor } from './harness.mjs';

const OpenAI = loadOpenAI();


describe('continuous batching: results do not depend on the batch', { skip: needs('bin', 'gpt', 'gptLong'), timeout: 600_000 }, () => {
  let srv, long;
  before(async () => {
    srv = await startServer(env.gpt, ['--parallel', '16']);
    long = await startServer(env.gptLong, ['--parallel', '16']);
  });
  after(async () => {
    if (srv) await srv.stop();
    if (long) await long.stop();
  });

  test('16 parallel streams at temperature 0, each equal to its solo run', async (t) => {
    const words = 'the cat sat on a mat and looked at the moon while it rained over the hills ';
    const ids = (await srv.post('/tokenize', { content: words.repeat(12) })).json.tokens;
    const reqs = [];
    for (let i = 0; i < 16; ++i) {
      if (i % 4 === 3) {
        // long prompts: cut into prefill pieces at 128-token boundaries, sharing steps with decoding streams
        reqs.push({ prompt: ids.slice(i, i + 130 + 5 * i), max_tokens: 24 });
      } else if (i % 4 === 2) {
        reqs.push({ messages: [{ role: 'user', content: `Question ${i}: ${words.slice(0, 10 + 3 * i)}?` }], max_tokens: 20 + i });
      } else if (i % 8 === 1) {
        reqs.push({ prompt: `Sampled ${i}: ${words.slice(i)}`, max_tokens: 30, temperature: 0.9, seed: 100 + i, top_p: 0.95 });
      } else {
        reqs.push({ prompt: `Prompt number ${i}: ${words.slice(0, 5 + 4 * i)}`, max_tokens: 16 + 3 * i });
      }
    }
    const solo = [];
    for (const q of reqs) solo.push(await streamed(srv, q));
    const m0 = await srv.metrics();
    const together = await Promise.all(reqs.map((q) => streamed(srv, q)));
    const m1 = await srv.metrics();
    for (let i = 0; i < 16; ++i) {
      assert.equal(together[i].text, solo[i].text, `request ${i} (${JSON.stringify(reqs[i]).slice(0, 80)}): concurrent != solo`);
      assert.equal(together[i].finish, solo[i].finish);
    }
    // they did run together: far fewer batched steps than tokens
    const steps = m1.get('lmcpp_batch_steps_total') - m0.get('lmcpp_batch_steps_total');
    const tokens = m1.get('lmcpp_completion_tokens_total') - m0.get('lmcpp_completion_tokens_total');
    t.diagnostic(`16 streams: ${tokens} tokens in ${steps} batched steps`);
    assert.ok(steps < tokens * 0.6, `${steps} steps for ${tokens} tokens: the streams were not batched together`);
  });

  test('requests joining a running batch mid-stream get their solo results, and do not disturb it', async (t) => {
    const longReq = { prompt: 'A long story begins here, and it goes on', max_tokens: 1200 };
    const joiners = Array.from({ length: 8 }, (_, i) => ({ prompt: `Joiner ${i} says`, max_tokens: 12 + 2 * i }));
    const soloLong = await streamed(long, longReq);
    const soloJoin = [];
    for (const q of joiners) soloJoin.push(await streamed(long, q));

    let fireJoiners;
    const started = new Promise((r) => { fireJoiners = r; });
    let longDone = false;
    const events = [];
    const t0 = Date.now();
    let longEvents = 0;
    const first = streamed(long, longReq, {
      onEvent: (ev) => {
        ++longEvents;
        if ('data' in ev && ev.data !== '[DONE]' && JSON.parse(ev.data).choices[0]?.text) fireJoiners();
      },
    }).then((x) => { longDone = true; events.push(`long done (${Date.now() - t0} ms)`); return x; });
    await started;
    events.push(`joiners start (${Date.now() - t0} ms, after ${longEvents} events of the long one)`);
    assert.equal(longDone, false);
    const joined = await Promise.all(joiners.map((q, i) => streamed(long, q).then((x) => { events.push(`joiner ${i} done (${Date.now() - t0} ms)${longDone ? ' (after the long one)' : ''}`); return x; })));
    const stillRunning = !longDone;
    const firstRes = await first;
    t.diagnostic(events.join(', '));
    assert.ok(stillRunning, 'the long stream was still running when every joiner had finished');
    assert.equal(firstRes.text, soloLong.text, 'the long stream is unchanged by the requests that joined it');
    joined.forEach((j, i) => assert.equal(j.text, soloJoin[i].text, `joiner ${i}`));
  });
});

describe('bad input and limits', { skip: needs('bin', 'gpt', 'gptLong'), timeout: 300_000 }, () => {
  let srv, modelId;
  before(async () => {
    srv = await startServer(env.gpt, ['--parallel', '2']);
    modelId = path.basename(env.gpt);
  });
  after(async () => { if (srv) await srv.stop(); });

  test('the matrix: 400 with an OpenAI error object; unknown route 404', async () => {
    const C = '/v1/completions';
    const H = '/v1/chat/completions';
    const msgs = [{ role: 'user', content: 'hi' }];
    const cases = [
      [C, '{"prompt": "unterminated', 'malformed JSON'],
      [C, '', 'empty body'],
      [C, '[1, 2, 3]', 'a JSON array, not an object'],
      [C, '"just a string"', 'a JSON string'],
      [C, {}, 'no prompt'],
      [C, { prompt: 5 }, 'prompt: a number'],
      [C, { prompt: [] }, 'prompt: empty array'],
      [C, { prompt: '' }, 'prompt: empty string'],
      [C, { prompt: [1, 'a'] }, 'prompt: mixed array'],
      [C, { prompt: [99999999] }, 'prompt: token id out of range'],
      [C, { prompt: [-1] }, 'prompt: negative token id'],
      [C, { prompt: 'x', max_tokens: 'ten' }, 'max_tokens: a string'],
      [C, { prompt: 'x', max_tokens: 0 }, 'max_tokens: 0'],
      [C, { prompt: 'x', max_tokens: 1.5 }, 'max_tokens: 1.5'],
      [C, { prompt: 'x', max_tokens: -3 }, 'max_tokens: negative'],
      [C, { prompt: 'x', temperature: 'hot' }, 'temperature: a string'],
      [C, { prompt: 'x', temperature: 3 }, 'temperature: 3'],
      [C, { prompt: 'x', temperature: -1 }, 'temperature: -1'],
      [C, { prompt: 'x', top_p: 1.5 }, 'top_p: 1.5'],
      [C, { prompt: 'x', top_k: -1 }, 'top_k: -1'],
      [C, { prompt: 'x', stream: 'yes' }, 'stream: a string'],
      [C, { prompt: 'x', stream: true, stream_options: 'usage' }, 'stream_options: a string'],
      [C, { prompt: 'x', stop: 5 }, 'stop: a number'],
      [C, { prompt: 'x', stop: [''] }, 'stop: empty string'],
      [C, { prompt: 'x', stop: [1, 2] }, 'stop: numbers'],
      [C, { prompt: 'x', n: 0 }, 'n: 0'],
      [C, { prompt: 'x', n: 1000 }, 'n: 1000'],
      [C, { prompt: 'x', seed: 'abc' }, 'seed: a string'],
      [C, { prompt: 'x', presence_penalty: 5 }, 'presence_penalty: 5'],
      [C, { prompt: 'x', frequency_penalty: 'x' }, 'frequency_penalty: a string'],
      [C, { prompt: 'x', logprobs: 10 }, 'logprobs: 10'],
      [C, { prompt: 'x', logit_bias: { 50256: -100 } }, 'logit_bias (not supported)'],
      [C, { prompt: 'x', model: 'gpt-4o' }, 'unknown model'],
      [C, { prompt: 'x', model: 7 }, 'model: a number'],
      [H, {}, 'chat: no messages'],
      [H, { messages: 'hi' }, 'chat: messages a string'],
      [H, { messages: [] }, 'chat: no message'],
      [H, { messages: [{ role: 'wizard', content: 'x' }] }, 'chat: unknown role'],
      [H, { messages: [{ content: 'x' }] }, 'chat: no role'],
      [H, { messages: [{ role: 'user', content: 5 }] }, 'chat: content a number'],
      [H, { messages: [{ role: 'user' }] }, 'chat: user content missing'],
      [H, { messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] }] }, 'chat: image part'],
      [H, { messages: msgs, model: 'no-such-model' }, 'chat: unknown model'],
      [H, { messages: msgs, top_logprobs: 2 }, 'chat: top_logprobs without logprobs'],
      [H, { messages: msgs, logprobs: true, top_logprobs: 50 }, 'chat: top_logprobs 50'],
      [H, { messages: msgs, tools: [{ type: 'function', function: { name: 'f' } }] }, 'chat: tools'],
      ['/tokenize', { content: 5 }, '/tokenize: content a number'],
      ['/detokenize', { tokens: [1e9] }, '/detokenize: id out of range'],
      ['/detokenize', { tokens: 'abc' }, '/detokenize: tokens a string'],
      ['/apply-template', { messages: [{ role: 'user' }] }, '/apply-template: no content'],
    ];
    for (const [route, body, what] of cases) {
      const r = await srv.post(route, body);
      const e = assertErrorShape(r, 400, what);
      assert.equal(e.type, 'invalid_request_error', what);
    }
    // prompt + max_tokens beyond the context (256)
    for (const body of [{ prompt: 'x', max_tokens: 300 }, { prompt: Array(250).fill(11), max_tokens: 10 }, { prompt: Array(257).fill(11), max_tokens: 1 }]) {
      const e = assertErrorShape(await srv.post(C, body), 400, 'beyond the context');
      assert.equal(e.type, 'exceed_context_size_error');
      assert.match(e.message, /context/);
    }
    const chatLong = assertErrorShape(await srv.post(H, { messages: [{ role: 'user', content: 'word '.repeat(300) }] }), 400, 'chat beyond the context');
    assert.equal(chatLong.type, 'exceed_context_size_error');
    // the SDK sees BadRequestError
    const oa = new OpenAI({ baseURL: srv.url + '/v1', apiKey: 'x', maxRetries: 0 });
    await assert.rejects(oa.completions.create({ model: modelId, prompt: 'x', max_tokens: 1000 }), (e) => e instanceof OpenAI.BadRequestError && e.type === 'exceed_context_size_error');
    // unknown routes and methods
    assertErrorShape(await srv.post('/v1/nothing', { prompt: 'x' }), 404, 'unknown route');
    const getCompl = await srv.get(C);
    assert.ok(getCompl.status === 404 || getCompl.status === 405, `GET ${C}: ${getCompl.status}`);
    // and nothing of that was a server error; the server still serves
    const m = await srv.metrics();
    assert.equal(m.get('lmcpp_http_server_errors_total'), 0);
    const ok = await srv.post(C, { prompt: 'still fine', max_tokens: 3 });
    assert.equal(ok.status, 200);
  });

  test('a body over the limit (8 MiB) answers 413, sent whole or chunked', async () => {
    const big = JSON.stringify({ prompt: 'a'.repeat(9 << 20), max_tokens: 1 });
    let r;
    try {
      r = await request(srv.url, 'POST', '/v1/completions', big);
    } catch (e) {
      assert.fail(`the client saw no answer to an oversized body (${e.cause?.code ?? e.message})`);
    }
    assertErrorShape(r, 413, 'oversized body');
    // the same bytes sent chunked (no Content-Length to refuse up front): 413 once the limit is passed
    const bytes = Buffer.from(big);
    const chunked = new ReadableStream({
      start(c) {
        for (let i = 0; i < bytes.length; i += 1 << 20) c.enqueue(bytes.subarray(i, i + (1 << 20)));
        c.close();
      },
    });
    let rc;
    try {
      const res = await fetch(srv.url + '/v1/completions', { method: 'POST', body: chunked, duplex: 'half', headers: { 'Content-Type': 'application/json' }, signal: AbortSignal.timeout(60_000) });
      rc = { status: res.status, text: await res.text() };
      rc.json = JSON.parse(rc.text);
    } catch (e) {
      assert.fail(`the client saw no answer to an oversized chunked body (${e.cause?.code ?? e.message})`);
    }
    assertErrorShape(rc, 413, 'oversized chunked body');
    // multipart is not JSON: 400, not a server error
    const form = new FormData();
    form.append('prompt', 'hello');
    const mp = await fetch(srv.url + '/v1/completions', { method: 'POST', body: form });
    assertErrorShape({ status: mp.status, text: '', json: await mp.json() }, 400, 'multipart body');
    assert.equal((await srv.get('/health')).status, 200);
    assert.equal((await srv.post('/v1/completions', { prompt: 'x', max_tokens: 2 })).status, 200);
  });

  test('a JSON body is read whatever its Content-Type (curl -d sends application/x-www-form-urlencoded)', async () => {
    // ~20 KB: more than cpp-httplib's own 8 KiB cap on form bodies, far below the server's 8 MiB limit
    const body = JSON.stringify({ prompt: 'word '.repeat(4000), max_tokens: 1, stop: 'x'.repeat(200) });
    const ids = await srv.post('/tokenize', { content: 'word '.repeat(4000) });
    assert.ok(ids.json.tokens.length > 256, 'the prompt is longer than the context');
    for (const type of ['application/x-www-form-urlencoded', 'text/plain', 'application/json; charset=utf-8', null]) {
      const headers = type ? { 'Content-Type': type } : {};
      const r = await request(srv.url, 'POST', '/v1/completions', Buffer.from(body), { headers });
      // the body was read and parsed: the answer is about the prompt's length, not the body's size
      const e = assertErrorShape(r, 400, `Content-Type ${type}`);
      assert.equal(e.type, 'exceed_context_size_error', `Content-Type ${type}: ${e.message}`);
      const small = await request(srv.url, 'POST', '/tokenize', Buffer.from(JSON.stringify({ content: 'y'.repeat(9000) })), { headers });
      assert.equal(small.status, 200, `/tokenize, Content-Type ${type}: ${small.text.slice(0, 200)}`);
    }
  });

  test('queue full: 429 with Retry-After (--parallel 1 --queue 1)', async (t) => {
    const q = await startServer(env.gptLong, ['--parallel', '1', '--queue', '1']);
    try {
      const ctl = new AbortController();
      const body = { prompt: 'Tell me everything', max_tokens: 3000, ignore_eos: true, temperature: 0, stream: true };
      // six long streams at once; the accepted ones stay open until every request has its status
      let answered = 0;
      const reads = Array.from({ length: 6 }, () => readSse(q.url + '/v1/completions', body, {
        signal: ctl.signal,
        onResponse: () => { ++answered; },
      }));
      const all = await waitFor(() => answered === 6, 30_000);
      ctl.abort();
      const results = await Promise.all(reads);
      assert.ok(all.value, `only ${answered} of 6 requests were answered`);
      const refused = results.filter((r) => r.status === 429);
      const accepted = results.filter((r) => r.status === 200);
      t.diagnostic(`${accepted.length} accepted (1 slot + 1 queued), ${refused.length} refused`);
      assert.equal(accepted.length + refused.length, 6, `statuses ${results.map((r) => r.status)}`);
      assert.equal(accepted.length, 2, 'one runs, one waits');
      for (const r of refused) {
        assert.match(r.headers.get('retry-after') ?? '', /^\d+$/, 'Retry-After in seconds');
        assert.equal(r.json.error.type, 'rate_limit_error');
        assert.equal(typeof r.json.error.message, 'string');
      }
      const m = await q.metrics();
      assert.equal(m.get('lmcpp_requests_rejected_total'), 4);
      // the aborted streams free their slot and queue place
      const idle = await waitFor(async () => { const x = await q.metrics(); return x.get('lmcpp_active_slots') === 0 && x.get('lmcpp_queue_depth') === 0; }, 10_000, 50);
      assert.ok(idle.value, 'slots freed after the clients went away');
      const after = await q.post('/v1/completions', { prompt: 'x', max_tokens: 2 });
      assert.equal(after.status, 200);
    } finally {
      await q.stop();
    }
  });

  test('request timeout (--timeout 1): a request that runs longer is ended with an error', async (t) => {
    const q = await startServer(env.gptLong, ['--parallel', '2', '--timeout', '1']);
    try {
      const t0 = Date.now();
      const r = await q.post('/v1/completions', { prompt: 'Tell me everything', max_tokens: 4000, ignore_eos: true, temperature: 0 });
      const ms = Date.now() - t0;
      t.diagnostic(`non-streamed: ${r.status} after ${ms} ms: ${r.text.slice(0, 160)}`);
      assert.ok(ms < 6000, `answered after ${ms} ms`);
      const e = assertErrorShape(r, r.status, 'timeout');
      assert.ok(r.status >= 400, 'an error status');
      assert.match(e.message, /timeout|longer/);
      // streamed: the stream ends (not hangs) soon after the limit
      const s = await readSse(q.url + '/v1/completions', { prompt: 'Tell me everything', max_tokens: 4000, ignore_eos: true, temperature: 0, stream: true }, { timeoutMs: 10_000 });
      const st = streamText(s);
      t.diagnostic(`streamed: ${s.ms} ms, finish ${st.finish[0]}, [DONE] ${s.done}`);
      assert.ok(s.ms < 6000);
      assert.notEqual(st.finish[0], 'length', 'not run to max_tokens');
      const idle = await waitFor(async () => (await q.metrics()).get('lmcpp_active_slots') === 0, 5000, 50);
      assert.ok(idle.value);
    } finally {
      await q.stop();
    }
  });
});

describe('start-up', { skip: needs('bin', 'gpt'), timeout: 120_000 }, () => {
  test('/health answers 503 while the model loads, then 200; the API answers 503 meanwhile', async (t) => {
    const seen = [];
    let polling;
    const poll = async (url) => {
      for (let i = 0; i < 2000; ++i) {
        const h = await fetch(url + '/health').then(async (r) => ({ status: r.status, body: await r.json() }), (e) => ({ status: 0, err: e.message }));
        const m = h.status === 503 ? await request(url, 'GET', '/v1/models').catch(() => null) : null;
        seen.push({ h, m });
        if (h.status === 200) return;
      }
    };
    const srv = await startServer(env.gpt, [], { onLoading: (url) => { polling = poll(url); } });
    try {
      await polling;
      const loading = seen.filter((x) => x.h.status === 503);
      t.diagnostic(`${loading.length} answers 503 before 200`);
      assert.ok(loading.length > 0, 'no 503 seen while loading (the model loaded before the first poll)');
      for (const x of loading) {
        assert.deepEqual(x.h.body, { status: 'loading' });
        if (x.m && x.m.status === 503) assert.equal(x.m.json.error.code, 'unavailable');
        else if (x.m) assert.equal(x.m.status, 200); // loaded between the two requests
      }
      assert.equal(seen.at(-1).h.status, 200);
      assert.deepEqual(seen.at(-1).h.body, { status: 'ok' });
    } finally {
      await srv.stop();
    }
  });
});

describe('a model that cannot be loaded', { skip: needs('bin'), timeout: 60_000 }, () => {
  test('the server exits 2 at once with one error line naming the directory', async () => {
    const p = spawn(env.bin, ['serve', '--model', '/nonexistent/model', '--port', '0'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d) => { err += d; });
    const code = await Promise.race([new Promise((r) => p.on('exit', r)), sleep(20_000).then(() => 'hung')]);
    if (code === 'hung') p.kill('SIGKILL');
    assert.equal(code, 2, `exit ${code}; stderr: ${err}`);
    assert.match(err, /lmcpp: error: .*\/nonexistent\/model/);
  });
});

describe('the listening socket', { skip: needs('bin', 'gpt', 'bertCls'), timeout: 120_000 }, () => {
  test('a port in use is refused: the second server exits with an error, the first keeps every connection', async () => {
    const a = await startServer(env.gpt);
    try {
      const port = String(a.port);
      const second = spawn(env.bin, ['serve', '--model', env.bertCls, '--host', '127.0.0.1', '--port', port, '--threads', '1'], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      second.stderr.on('data', (d) => { err += d; });
      const code = await Promise.race([new Promise((r) => second.on('exit', (c) => r(c))), sleep(15_000).then(() => 'running')]);
      if (code === 'running') second.kill('SIGKILL');
      assert.notEqual(code, 'running', `a second server started on port ${port} (it would take part of the connections):\n${err}`);
      assert.notEqual(code, 0);
      assert.match(err, /cannot listen/);
      for (let i = 0; i < 8; ++i) assert.equal((await a.get('/v1/models')).json.data[0].id, path.basename(env.gpt));
    } finally {
      await a.stop();
    }
  });

  test('a burst of 100 new connections is accepted at once (no SYN retries)', async (t) => {
    const srv = await startServer(env.gpt);
    try {
      const one = () => new Promise((resolve, reject) => {
        const t0 = Date.now();
        const req = http.get({ host: '127.0.0.1', port: srv.port, path: '/health', agent: false, timeout: 20_000 }, (res) => {
          res.resume();
          res.on('end', () => resolve({ ms: Date.now() - t0, status: res.statusCode }));
        });
        req.on('timeout', () => req.destroy(new Error('timeout')));
        req.on('error', reject);
      });
      for (let round = 0; round < 3; ++round) {
        const rs = await Promise.all(Array.from({ length: 100 }, one));
        const ms = rs.map((r) => r.ms).sort((x, y) => x - y);
        t.diagnostic(`round ${round}: median ${ms[50]} ms, max ${ms[99]} ms`);
        assert.ok(rs.every((r) => r.status === 200));
        // a dropped SYN is retried after 1 s: any connection that slow was not accepted at first
        assert.ok(ms[99] < 900, `slowest of 100 new connections: ${ms[99]} ms (a listen backlog too small?)`);
      }
    } finally {
      await srv.stop();
    }
  });
});
