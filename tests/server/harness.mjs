// Shared pieces of the `lmcpp serve` node tests (tests/server/*.test.mjs):
//   - startServer(): `lmcpp serve --model DIR --port 0 ...` as a subprocess; the port comes from its stderr line
//     `lmcpp: listening on http://HOST:PORT`, then GET /health is polled until 200. server.stop() sends SIGTERM
//     and asserts exit code 0 within 10 s; leftovers are SIGKILLed when the test process ends.
//   - readSse(): a raw SSE reader (fetch + ReadableStream) returning every `data:` payload and comment line
//     exactly as sent.
//   - small helpers: JSON requests, /metrics parsing, VmRSS, the CLI (`lmcpp generate/predict --json`).
//
// Environment (tests/server/run.sh sets it up):
//   LMCPP_BIN              the lmcpp binary
//   LMCPP_GPT_DIR          a small GPT-2 model directory (n_positions 256)
//   LMCPP_GPT_LONG_DIR     the same shape with n_positions 4096 (streams that last seconds)
//   LMCPP_BERT_CLS_DIR     a BertForSequenceClassification (labels negative/positive)
//   LMCPP_BERT_MLM_DIR     a BertForMaskedLM
//   LMCPP_LORA1_DIR, LMCPP_LORA2_DIR   random PEFT LoRA adapters of LMCPP_GPT_DIR (different target modules)
//   LMCPP_SERVER_THREADS   --threads of the servers the tests start (default 1)
// Every server listens on 127.0.0.1 only.

import { spawn, execFile } from 'node:child_process';
import { readFileSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import assert from 'node:assert/strict';

export const env = {
  bin: process.env.LMCPP_BIN,
  gpt: process.env.LMCPP_GPT_DIR,
  gptLong: process.env.LMCPP_GPT_LONG_DIR,
  bertCls: process.env.LMCPP_BERT_CLS_DIR,
  bertMlm: process.env.LMCPP_BERT_MLM_DIR,
  lora1: process.env.LMCPP_LORA1_DIR,
  lora2: process.env.LMCPP_LORA2_DIR,
};

const ENV_NAMES = { bin: 'LMCPP_BIN', gpt: 'LMCPP_GPT_DIR', gptLong: 'LMCPP_GPT_LONG_DIR', bertCls: 'LMCPP_BERT_CLS_DIR', bertMlm: 'LMCPP_BERT_MLM_DIR', lora1: 'LMCPP_LORA1_DIR', lora2: 'LMCPP_LORA2_DIR' };

// A node:test `skip` value: false when every named input exists, else the reason.
export function needs(...keys) {
  const missing = keys.filter((k) => !env[k] || !existsSync(env[k])).map((k) => ENV_NAMES[k]);
  return missing.length ? `${missing.join(', ')} not set (run tests/server/run.sh BIN)` : false;
}

// The OpenAI SDK (a devDependency of tests/node, one package.json for the node-side tests).
export function loadOpenAI() {
  const require = createRequire(new URL('../node/package.json', import.meta.url));
  try {
    return require('openai');
  } catch (e) {
    throw new Error(`openai is not installed: run \`(cd tests/node && PUPPETEER_SKIP_DOWNLOAD=1 npm ci)\` (${e.message})`);
  }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- servers ----

const live = new Set(); // child processes not yet reaped

function killLeftovers() {
  for (const p of live) {
    try { p.kill('SIGKILL'); } catch { /* already gone */ }
  }
  live.clear();
}
process.on('exit', killLeftovers);
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => { killLeftovers(); process.exit(130); });
}

export class Server {
  constructor(proc, model) {
    this.proc = proc;
    this.pid = proc.pid;
    this.model = model;
    this.stderr = '';
    this.url = null;
    this.exit = null; // {code, signal} once exited
    this.exited = new Promise((resolve) => {
      proc.on('exit', (code, signal) => {
        live.delete(proc);
        this.exit = { code, signal };
        resolve(this.exit);
      });
    });
  }

  // SIGTERM (or `signal`), then wait up to timeoutMs for the exit; SIGKILL after that. Returns {code, signal, ms}.
  async terminate(signal = 'SIGTERM', timeoutMs = 10_000) {
    const t0 = Date.now();
    if (!this.exit) this.proc.kill(signal);
    let timer;
    const r = await Promise.race([this.exited, new Promise((res) => { timer = setTimeout(() => res(null), timeoutMs); })]);
    clearTimeout(timer);
    if (!r) {
      this.proc.kill('SIGKILL');
      await this.exited;
      return { code: null, signal: 'SIGKILL', ms: Date.now() - t0, timedOut: true };
    }
    return { ...r, ms: Date.now() - t0, timedOut: false };
  }

  // SIGTERM and assert a clean exit (code 0) within 10 s.
  async stop() {
    if (this.exit) {
      assert.equal(this.exit.code, 0, `server exited earlier with ${JSON.stringify(this.exit)}\n${this.tail()}`);
      return this.exit;
    }
    const r = await this.terminate('SIGTERM', 10_000);
    assert.equal(r.timedOut, false, `server did not exit within 10 s of SIGTERM\n${this.tail()}`);
    assert.equal(r.code, 0, `server exit ${JSON.stringify(r)}\n${this.tail()}`);
    return r;
  }

  tail(n = 2000) {
    return this.stderr.length > n ? '…' + this.stderr.slice(-n) : this.stderr;
  }

  // GET/POST helpers bound to this server.
  get(path, opts) { return this.#why(request(this.url, 'GET', path, undefined, opts)); }
  post(path, body, opts) { return this.#why(request(this.url, 'POST', path, body, opts)); }
  // A failed request says whether the server is still there, and what it last printed.
  async #why(p) {
    try {
      return await p;
    } catch (e) {
      await sleep(100);
      throw new Error(`${e.message}${e.cause ? ` (${e.cause.code ?? e.cause.message})` : ''}; server ${this.exit ? `exited ${JSON.stringify(this.exit)}` : 'still running'}; its stderr:\n${this.tail()}`);
    }
  }
  async metrics(opts) {
    const r = await this.get('/metrics', opts);
    assert.equal(r.status, 200, `/metrics: ${r.status} ${r.text}`);
    return parseMetrics(r.text);
  }
  rssKb() { return rssKb(this.pid); }
}

// Compute threads of each server (--threads) unless a test names its own. One by default: on a small shared
// machine the test process needs a core too, and a 2-thread OpenMP team whose second core is busy elsewhere
// makes a decode step take from 1 ms to 200 ms at random, which turns timing checks into noise.
export const SERVER_THREADS = Number(process.env.LMCPP_SERVER_THREADS || 1);

// Starts `lmcpp serve --model MODEL --host 127.0.0.1 --port 0 --threads T ARGS...` and resolves once GET /health
// answers 200. opts: env (extra environment; LMCPP_API_KEY is passed on only when given here), readyMs,
// onLoading(url) (called at the 'lmcpp: loading DIR (port N)' line, before the model is loaded).
export async function startServer(model, args = [], opts = {}) {
  assert.ok(env.bin, 'LMCPP_BIN is not set');
  const argv = ['serve', '--model', model, '--host', '127.0.0.1', '--port', '0', ...args];
  if (!args.includes('--threads')) argv.push('--threads', String(SERVER_THREADS));
  const childEnv = { ...process.env, ...(opts.env || {}) };
  if (!opts.env || !('LMCPP_API_KEY' in opts.env)) delete childEnv.LMCPP_API_KEY; // only when a test asks for it
  const proc = spawn(env.bin, argv, { stdio: ['ignore', 'ignore', 'pipe'], env: childEnv });
  live.add(proc);
  const s = new Server(proc, model);
  const readyMs = opts.readyMs ?? 60_000;
  proc.stderr.setEncoding('utf8');
  const listening = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no 'listening' line within ${readyMs} ms:\n${s.tail()}`)), readyMs);
    let announced = false;
    proc.stderr.on('data', (d) => {
      s.stderr += d;
      const l = /lmcpp: loading .* \(port (\d+)\)/.exec(s.stderr);
      if (l && !announced) {
        announced = true;
        opts.onLoading?.(`http://127.0.0.1:${l[1]}`);
      }
      const m = /lmcpp: listening on (http:\/\/[^\s:]+:(\d+))/.exec(s.stderr);
      if (m && !s.url) {
        clearTimeout(timer);
        s.port = Number(m[2]);
        s.url = m[1];
        resolve();
      }
    });
    s.exited.then((e) => { clearTimeout(timer); reject(new Error(`server exited before listening (${JSON.stringify(e)}):\n${s.tail()}`)); });
  });
  // Never let a server's pipe keep the test process alive; process 'exit' kills it.
  proc.unref();
  proc.stderr.unref?.();
  try {
    await listening;
    assert.equal(new URL(s.url).hostname, '127.0.0.1');
    const t0 = Date.now();
    for (;;) {
      let status = 0;
      try {
        status = (await fetch(s.url + '/health', { signal: AbortSignal.timeout(2000) })).status;
      } catch { /* not yet */ }
      if (status === 200) break;
      if (s.exit) throw new Error(`server exited: ${JSON.stringify(s.exit)}\n${s.tail()}`);
      if (Date.now() - t0 > readyMs) throw new Error(`/health not 200 within ${readyMs} ms (last ${status})\n${s.tail()}`);
      await sleep(50);
    }
  } catch (e) {
    proc.kill('SIGKILL');
    throw e;
  }
  return s;
}

// ---- HTTP ----

// A JSON request; body: an object (JSON-encoded) or a string (sent as is), both as application/json unless
// opts.headers names a Content-Type; a Buffer/Uint8Array (sent as is, with only the caller's headers); or undefined.
// Returns {status, headers, text, json (null unless JSON)}.
export async function request(base, method, path, body, opts = {}) {
  const headers = { ...(opts.headers || {}) };
  if (opts.key) headers.Authorization = 'Bearer ' + opts.key;
  let payload;
  if (body !== undefined) {
    payload = typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body);
    if (!(body instanceof Uint8Array)) headers['Content-Type'] ??= 'application/json'; // bytes: as the caller says
  }
  const res = await fetch(base + path, { method, headers, body: payload, signal: AbortSignal.timeout(opts.timeoutMs ?? 60_000) });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, headers: res.headers, text, json };
}

// Asserts an OpenAI error object {"error": {"message", "type", "code", ...}}.
export function assertErrorShape(r, status, what = '') {
  assert.equal(r.status, status, `${what}: status ${r.status}, body ${r.text.slice(0, 300)}`);
  assert.ok(r.json && typeof r.json.error === 'object' && r.json.error !== null, `${what}: no error object in ${r.text.slice(0, 300)}`);
  const e = r.json.error;
  assert.equal(typeof e.message, 'string', `${what}: error.message`);
  assert.ok(e.message.length > 0, `${what}: empty error.message`);
  assert.equal(typeof e.type, 'string', `${what}: error.type`);
  assert.ok('code' in e, `${what}: error.code missing`);
  return e;
}

// ---- SSE ----

// POSTs `body` and reads the SSE response byte for byte. Lines are split on "\n" (an optional "\r" dropped) and
// decoded as strict UTF-8 (a line with invalid UTF-8 throws). Returns
//   {status, headers, data: ["{...}", ..., "[DONE]"], comments: [": held back", ...], lines: [every line],
//    events: [{data} | {comment}] in order, done: last payload was [DONE], aborted, error, ms, firstMs}
// opts: headers, key, signal (an AbortSignal; aborting ends the read early with aborted: true), timeoutMs (the
// whole read; a hang rejects), onResponse(res, state) called once the status and headers are in, onEvent(ev,
// state) called for each data payload / comment as it arrives.
export async function readSse(url, body, opts = {}) {
  const headers = { 'Content-Type': 'application/json', Accept: 'text/event-stream', ...(opts.headers || {}) };
  if (opts.key) headers.Authorization = 'Bearer ' + opts.key;
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
  const out = { status: 0, headers: null, data: [], comments: [], lines: [], events: [], done: false, aborted: false, error: null, ms: 0, firstMs: null };
  const t0 = Date.now();
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let res;
  try {
    res = await fetch(url, { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body), signal });
  } catch (e) {
    if (timeout.aborted) throw new Error(`SSE request to ${url} got no response within ${timeoutMs} ms`);
    if (opts.signal?.aborted) { out.aborted = true; return out; }
    throw e;
  }
  out.status = res.status;
  out.headers = res.headers;
  opts.onResponse?.(res, out);
  if (!res.ok || !(res.headers.get('content-type') || '').startsWith('text/event-stream')) {
    out.text = await res.text();
    try { out.json = JSON.parse(out.text); } catch { /* not JSON */ }
    out.ms = Date.now() - t0;
    return out;
  }
  const reader = res.body.getReader();
  let buf = new Uint8Array(0);
  let dataLines = [];
  const dispatch = (ev) => {
    out.events.push(ev);
    if ('data' in ev) {
      out.data.push(ev.data);
      if (out.firstMs === null) out.firstMs = Date.now() - t0;
    } else {
      out.comments.push(ev.comment);
    }
    opts.onEvent?.(ev, out);
  };
  const line = (bytes) => {
    let s = decoder.decode(bytes);
    if (s.endsWith('\r')) s = s.slice(0, -1);
    out.lines.push(s);
    if (s === '') {
      if (dataLines.length) dispatch({ data: dataLines.join('\n') });
      dataLines = [];
    } else if (s.startsWith(':')) {
      dispatch({ comment: s });
    } else if (s.startsWith('data:')) {
      dataLines.push(s.slice(s.startsWith('data: ') ? 6 : 5));
    } else {
      out.other ??= [];
      out.other.push(s);
    }
  };
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      const joined = new Uint8Array(buf.length + value.length);
      joined.set(buf);
      joined.set(value, buf.length);
      let start = 0;
      for (let i = 0; i < joined.length; ++i) {
        if (joined[i] === 0x0a) {
          line(joined.subarray(start, i));
          start = i + 1;
        }
      }
      buf = joined.slice(start);
    }
    if (buf.length) out.trailing = decoder.decode(buf);
  } catch (e) {
    if (timeout.aborted) throw new Error(`SSE stream from ${url} hung: no end within ${timeoutMs} ms (${out.data.length} events read)`);
    if (opts.signal?.aborted) out.aborted = true;
    else out.error = e;
  }
  out.done = out.data.length > 0 && out.data[out.data.length - 1] === '[DONE]';
  out.ms = Date.now() - t0;
  return out;
}

// The JSON chunks of an SSE result (every data payload but [DONE]).
export function chunksOf(r) {
  return r.data.filter((d) => d !== '[DONE]').map((d) => JSON.parse(d));
}

// The text of each choice of a streamed completion or chat completion: {index: text}, and finish reasons.
export function streamText(r) {
  const text = {};
  const finish = {};
  let usage = null;
  for (const c of chunksOf(r)) {
    if (c.usage) usage = c.usage;
    for (const ch of c.choices || []) {
      text[ch.index] ??= '';
      text[ch.index] += ch.text ?? ch.delta?.content ?? '';
      if (ch.finish_reason) finish[ch.index] = ch.finish_reason;
    }
  }
  return { text, finish, usage };
}

// ---- metrics, memory, the CLI ----

// Prometheus text -> {values: Map("name{labels}" -> number), types: Map(name -> type), help: Map(name -> text)}.
// Throws on a line that is neither a comment nor a sample.
export function parseMetrics(text) {
  const values = new Map();
  const types = new Map();
  const help = new Map();
  for (const ln of text.split('\n')) {
    if (ln === '') continue;
    let m;
    if ((m = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(ln))) types.set(m[1], m[2]);
    else if ((m = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(ln))) help.set(m[1], m[2]);
    else if (ln.startsWith('#')) continue;
    else if ((m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[a-zA-Z_][a-zA-Z0-9_]*="[^"]*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="[^"]*")*\})?) (\S+)$/.exec(ln))) {
      const v = Number(m[2] === '+Inf' ? Infinity : m[2]);
      if (Number.isNaN(v) && m[2] !== 'NaN') throw new Error(`bad metric value: ${ln}`);
      values.set(m[1], v);
    } else throw new Error(`not Prometheus text: ${JSON.stringify(ln)}`);
  }
  return { values, types, help, get: (k) => values.get(k) };
}

// Resident set size of a process in kB (VmRSS), or null once it is gone.
export function rssKb(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

// Runs `lmcpp ARGS... [--threads T] --json` and resolves to the parsed JSON of its stdout. (Asynchronous on purpose: a
// synchronous child would block the event loop, and keep-alive sockets the server closed meanwhile would then
// look alive to fetch.)
export function cliJson(args) {
  const threads = args.includes('--threads') ? [] : ['--threads', String(SERVER_THREADS)]; // as the servers
  return new Promise((resolve, reject) => {
    execFile(env.bin, [...args, ...threads, '--json'], { encoding: 'utf8', timeout: 120_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`lmcpp ${args.join(' ')}: ${err.message}\n${stderr}`));
      try { resolve(JSON.parse(stdout)); } catch (e) { reject(new Error(`lmcpp ${args.join(' ')}: not JSON: ${stdout.slice(0, 300)}`)); }
    });
  });
}

// Polls fn() (sync or async) every `everyMs` until it returns a truthy value or `ms` pass; returns the value
// (or the last falsy one) and the elapsed time.
export async function waitFor(fn, ms, everyMs = 20) {
  const t0 = Date.now();
  let v;
  for (;;) {
    v = await fn();
    if (v || Date.now() - t0 > ms) return { value: v, ms: Date.now() - t0 };
    await sleep(everyMs);
  }
}

// Streams a completion (temperature 0 unless given) and returns {text, finish, r}.
export async function streamed(srv, body, opts = {}) {
  const r = await readSse(srv.url + (body.messages ? '/v1/chat/completions' : '/v1/completions'),
    { temperature: 0, ignore_eos: true, ...body, stream: true }, opts);
  assert.equal(r.status, 200, `status ${r.status}: ${r.text}`);
  assert.ok(r.done, `stream ended without [DONE] (${r.data.length} events, error ${r.error})`);
  const st = streamText(r);
  return { text: st.text[0], finish: st.finish[0], r };
}
