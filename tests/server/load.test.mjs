// The bounded load and fault test of `lmcpp serve` (slow: minutes; tests/server/run.sh leaves it out unless
// named):
//
//   tests/server/run.sh BIN tests/server/load.test.mjs
//
// 2,000 requests from 32 concurrent clients against one server (--parallel 16): 85% well-formed (completions and
// chat, half streamed), 10% streams abandoned mid-way (the client aborts), 5% malformed. Asserts: no 5xx, no
// hung connection (every request has a deadline), every well-formed request answered completely and with the
// text it gets alone (temperature 0, or seeded sampling), the malformed ones 400 with an error object, peak RSS
// bounded and back near its idle level afterwards, the server healthy at the end (and a clean SIGTERM exit).
// LMCPP_LOAD_REQUESTS / LMCPP_LOAD_CLIENTS change the totals.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, needs, env, readSse, streamText, request, sleep, waitFor } from './harness.mjs';

const TOTAL = Number(process.env.LMCPP_LOAD_REQUESTS || 2000);
const CLIENTS = Number(process.env.LMCPP_LOAD_CLIENTS || 32);
const PER_REQUEST_MS = 120_000; // a request taking longer counts as hung
const MB = 1024;

// Well-formed request templates: small max_tokens so 2,000 of them take minutes on 2 cores.
const TEMPLATES = [
  { route: '/v1/completions', body: { prompt: 'The quick brown fox', max_tokens: 8, temperature: 0, ignore_eos: true } },
  { route: '/v1/completions', body: { prompt: 'Once upon a time, there was', max_tokens: 12, temperature: 0, ignore_eos: true } },
  { route: '/v1/completions', body: { prompt: 'In the beginning', max_tokens: 10, temperature: 0.8, seed: 7, top_k: 40, ignore_eos: true } },
  { route: '/v1/completions', body: { prompt: 'Lists: one, two,', max_tokens: 16, temperature: 0, stop: [' the', '.'] } },
  { route: '/v1/completions', body: { prompt: [464, 2068, 7586, 21831], max_tokens: 6, temperature: 0, n: 2, ignore_eos: true } },
  { route: '/v1/chat/completions', body: { messages: [{ role: 'user', content: 'Say hello.' }], max_tokens: 8, temperature: 0, ignore_eos: true } },
  { route: '/v1/chat/completions', body: { messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'What is 2+2?' }], max_tokens: 12, temperature: 0.7, seed: 3, ignore_eos: true } },
  { route: '/v1/chat/completions', body: { messages: [{ role: 'user', content: 'Write a long poem about the sea and the wind.' }], max_tokens: 14, temperature: 0, frequency_penalty: 0.5, ignore_eos: true } },
];
// Abandoned streams: long enough to be aborted part-way.
const ABANDON = { route: '/v1/completions', body: { prompt: 'Tell me a long story', max_tokens: 200, temperature: 0, ignore_eos: true } };
const MALFORMED = [
  ['/v1/completions', '{"prompt": "broken'],
  ['/v1/completions', '{"prompt": 17}'],
  ['/v1/completions', '{"prompt": "x", "max_tokens": "many"}'],
  ['/v1/completions', '{"prompt": "x", "model": "no-such-model"}'],
  ['/v1/completions', '{"prompt": "x", "max_tokens": 100000}'],
  ['/v1/chat/completions', '{"messages": "hello"}'],
  ['/v1/chat/completions', '{"messages": [{"role": "robot", "content": "x"}]}'],
  ['/v1/chat/completions', '[]'],
  ['/v1/completions', '{"prompt": "x", "stream": true, "temperature": "warm"}'],
  ['/v1/completions', ''],
];

// A small deterministic PRNG, so a failing mix can be replayed.
function lcg(seed) {
  let x = BigInt(seed);
  return () => {
    x = (x * 6364136223846793005n + 1442695040888963407n) & ((1n << 64n) - 1n);
    return Number(x >> 33n) / 2 ** 31;
  };
}

function textsOf(json) {
  return json.choices.map((c) => c.text ?? c.message?.content);
}

test(`load: ${TOTAL} requests from ${CLIENTS} clients (--parallel 16), abandoned and malformed ones mixed in`, { skip: needs('bin', 'gpt'), timeout: 1_800_000 }, async (t) => {
  const srv = await startServer(env.gpt, ['--parallel', '16']);
  let stopped = false;
  try {
    // The expected answer of every template, alone (also the warm-up).
    const expected = [];
    for (const tp of TEMPLATES) {
      const r = await srv.post(tp.route, tp.body);
      assert.equal(r.status, 200, r.text);
      expected.push({ texts: textsOf(r.json), finish: r.json.choices.map((c) => c.finish_reason) });
    }
    await sleep(1000);
    const idleKb = srv.rssKb();

    // RSS sampler: the peak of each half of the run (a per-request leak makes the second half's peak higher)
    const peakHalf = [idleKb, idleKb];
    let next = 0;
    const sampler = setInterval(() => {
      const v = srv.rssKb();
      const h = next < TOTAL / 2 ? 0 : 1;
      if (v) peakHalf[h] = Math.max(peakHalf[h], v);
    }, 100);

    const rnd = lcg(20240611);
    const plan = Array.from({ length: TOTAL }, () => {
      const u = rnd();
      if (u < 0.05) return { kind: 'malformed', which: Math.floor(rnd() * MALFORMED.length) };
      if (u < 0.15) return { kind: 'abandon', after: 1 + Math.floor(rnd() * 4) };
      return { kind: rnd() < 0.5 ? 'stream' : 'whole', which: Math.floor(rnd() * TEMPLATES.length) };
    });
    const stats = { whole: 0, stream: 0, abandon: 0, abandonedMid: 0, abandonLate: 0, malformed: 0, status: {}, failures: [], latencies: [] };
    const fail = (i, msg) => { if (stats.failures.length < 20) stats.failures.push(`#${i} ${plan[i].kind}: ${msg}`); stats.failed = (stats.failed || 0) + 1; };
    const countStatus = (s) => { stats.status[s] = (stats.status[s] || 0) + 1; };

    async function one(i) {
      const p = plan[i];
      const t0 = Date.now();
      try {
        if (p.kind === 'malformed') {
          const [route, body] = MALFORMED[p.which];
          const r = await request(srv.url, 'POST', route, body, { timeoutMs: PER_REQUEST_MS });
          countStatus(r.status);
          stats.malformed++;
          if (r.status !== 400 || !r.json?.error?.message) fail(i, `status ${r.status} ${r.text.slice(0, 120)}`);
        } else if (p.kind === 'whole') {
          const tp = TEMPLATES[p.which];
          const r = await request(srv.url, 'POST', tp.route, tp.body, { timeoutMs: PER_REQUEST_MS });
          countStatus(r.status);
          stats.whole++;
          if (r.status !== 200) return fail(i, `status ${r.status} ${r.text.slice(0, 120)}`);
          const got = { texts: textsOf(r.json), finish: r.json.choices.map((c) => c.finish_reason) };
          assert.deepEqual(got, expected[p.which]);
        } else if (p.kind === 'stream') {
          const tp = TEMPLATES[p.which];
          const r = await readSse(srv.url + tp.route, { ...tp.body, stream: true }, { timeoutMs: PER_REQUEST_MS });
          countStatus(r.status);
          stats.stream++;
          if (r.status !== 200) return fail(i, `status ${r.status} ${(r.text || '').slice(0, 120)}`);
          if (!r.done) return fail(i, `stream ended without [DONE] after ${r.data.length} events (${r.error?.cause?.code ?? r.error?.message ?? ''})`);
          const st = streamText(r);
          const n = expected[p.which].texts.length;
          const got = { texts: Array.from({ length: n }, (_, k) => st.text[k] ?? ''), finish: Array.from({ length: n }, (_, k) => st.finish[k]) };
          assert.deepEqual(got, expected[p.which]);
        } else {
          const ctl = new AbortController();
          let seen = 0;
          const r = await readSse(srv.url + ABANDON.route, { ...ABANDON.body, stream: true }, {
            timeoutMs: PER_REQUEST_MS,
            signal: ctl.signal,
            onEvent: (ev) => { if ('data' in ev && ++seen === p.after) ctl.abort(); },
          });
          countStatus(r.status);
          stats.abandon++;
          if (r.status !== 200) return fail(i, `status ${r.status}`);
          if (r.aborted) stats.abandonedMid++;
          else if (r.done) stats.abandonLate++; // finished before the client left
          else fail(i, `stream neither aborted nor done (${r.error?.message})`);
        }
      } catch (e) {
        fail(i, e.message.split('\n').slice(0, 6).join(' | '));
      } finally {
        stats.latencies.push(Date.now() - t0);
      }
    }

    const t0 = Date.now();
    await Promise.all(Array.from({ length: CLIENTS }, async () => {
      while (next < TOTAL) await one(next++);
    }));
    const seconds = (Date.now() - t0) / 1000;
    clearInterval(sampler);
    const peakKb = Math.max(...peakHalf);

    // settle: every slot free, then the memory after
    const idle = await waitFor(async () => { const m = await srv.metrics(); return m.get('lmcpp_active_slots') === 0 && m.get('lmcpp_queue_depth') === 0; }, 10_000, 50);
    await sleep(2000);
    const afterKb = srv.rssKb();
    const m = await srv.metrics();
    const lat = stats.latencies.sort((a, b) => a - b);
    const pct = (q) => lat[Math.min(lat.length - 1, Math.floor(q * lat.length))];
    const summary = [
      `${TOTAL} requests, ${CLIENTS} clients, ${seconds.toFixed(1)} s (${(TOTAL / seconds).toFixed(1)} req/s)`,
      `whole ${stats.whole}, streamed ${stats.stream}, abandoned ${stats.abandon} (${stats.abandonedMid} mid-stream, ${stats.abandonLate} finished first), malformed ${stats.malformed}`,
      `statuses ${JSON.stringify(stats.status)}; latency p50 ${pct(0.5)} ms, p99 ${pct(0.99)} ms, max ${lat.at(-1)} ms`,
      `server: ${m.get('lmcpp_requests_total')} sequences, ${m.get('lmcpp_completion_tokens_total')} tokens in ${m.get('lmcpp_batch_steps_total')} steps, ${m.get('lmcpp_http_client_errors_total')} 4xx, ${m.get('lmcpp_http_server_errors_total')} 5xx`,
      `RSS idle ${(idleKb / MB).toFixed(1)} MiB, peak ${(peakKb / MB).toFixed(1)} MiB (first half ${(peakHalf[0] / MB).toFixed(1)}, second half ${(peakHalf[1] / MB).toFixed(1)}), after ${(afterKb / MB).toFixed(1)} MiB`,
    ];
    for (const s of summary) t.diagnostic(s);
    console.log(summary.map((s) => 'load: ' + s).join('\n'));

    assert.deepEqual(stats.failures, [], `${stats.failed} failed requests (first 20 shown)`);
    assert.equal(stats.whole + stats.stream + stats.abandon + stats.malformed, TOTAL);
    assert.ok(Object.keys(stats.status).every((s) => Number(s) < 500), `5xx answers: ${JSON.stringify(stats.status)}`);
    assert.equal(m.get('lmcpp_http_server_errors_total'), 0, 'the server counted no 5xx');
    assert.ok(stats.abandonedMid >= stats.abandon * 0.5, `most abandoned streams were cut mid-way (${stats.abandonedMid} of ${stats.abandon})`);
    assert.ok(idle.value, 'slots and queue empty after the load');
    // Memory. The load may take a bounded amount more than idle: 16 slots' KV caches and logits, and what the
    // HTTP pool threads (72 at --parallel 16) keep (stacks, malloc arenas, the tokenizer's per-thread word
    // cache). Thresholds: peak within idle + 256 MiB; the second half's peak within 16 MiB of the first's (a
    // leak of 16 KB per request would show); after the load within idle + 48 MiB (25% of idle if more).
    assert.ok(peakKb <= idleKb + 256 * MB, `peak RSS ${peakKb} kB vs idle ${idleKb} kB: more than 256 MiB over idle`);
    assert.ok(peakHalf[1] <= peakHalf[0] + 16 * MB, `RSS peak grew from ${peakHalf[0]} kB (first half) to ${peakHalf[1]} kB (second half): a leak?`);
    assert.ok(afterKb <= idleKb + Math.max(48 * MB, 0.25 * idleKb), `RSS after the load ${afterKb} kB vs idle ${idleKb} kB: not back near idle`);

    // healthy at the end: /health, an answer equal to the solo one, a clean exit
    assert.equal((await srv.get('/health')).status, 200);
    const last = await srv.post(TEMPLATES[0].route, TEMPLATES[0].body);
    assert.deepEqual(textsOf(last.json), expected[0].texts);
    stopped = true;
    await srv.stop();
  } finally {
    if (!stopped) await srv.terminate('SIGKILL', 5000);
  }
});
