// Real-browser test of the `lmcpp serve` web playground (tools/server/playground.html, served at GET /).
//
//   (cd tests/node && PUPPETEER_SKIP_DOWNLOAD=1 npm ci)      # once: puppeteer-core, no browser download
//   LMCPP_SERVER_URL=http://127.0.0.1:8080 node --test tests/server/playground.test.mjs
//
// It drives Debian's Chromium (/usr/bin/chromium, or LMCPP_CHROMIUM) headless against a running server.
// Without LMCPP_SERVER_URL it starts its own GPT server through harness.mjs when LMCPP_BIN and LMCPP_GPT_DIR
// are set (tests/server/run.sh sets them); with neither, every test is skipped, with a message saying so.
//
// Environment:
//   LMCPP_SERVER_URL       base URL of a running `lmcpp serve` (else one is started from LMCPP_BIN/LMCPP_GPT_DIR)
//   LMCPP_API_KEY          typed into the page's API key field when the server wants one
//   LMCPP_SCREENSHOT       path of a PNG screenshot taken at the end (optional)
//   LMCPP_CHROMIUM         browser executable (default /usr/bin/chromium)
//   LMCPP_STOP_THROTTLE    bytes/s the browser may download during the Stop step (default 1500; 0 = off).
//                          A small CPU model can finish 200 tokens before a click lands; throttling the
//                          page's network keeps the reply mid-stream when Stop is pressed.
//
// What a causal-lm server is checked for: the model shows up; a message streams into an assistant bubble
// with tokens/s and time to first token; a second, long reply (max_tokens 200, or n_ctx/2 if smaller)
// is stopped mid-stream with the Stop button, after which the UI is idle again (Send enabled, Stop
// disabled), the partial text stays and no more text arrives. An encoder server gets its three tabs
// exercised instead. In both cases, no uncaught page error.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { startServer, needs, env } from './harness.mjs';

let SERVER = process.env.LMCPP_SERVER_URL;
const OWN = !SERVER && !needs('bin', 'gpt'); // start a server of our own
const CHROMIUM = process.env.LMCPP_CHROMIUM || '/usr/bin/chromium';
const SCREENSHOT = process.env.LMCPP_SCREENSHOT;
const API_KEY = process.env.LMCPP_API_KEY || '';
const THROTTLE = process.env.LMCPP_STOP_THROTTLE === undefined ? 1500 : Number(process.env.LMCPP_STOP_THROTTLE);

const skip = SERVER || OWN ? false : 'LMCPP_SERVER_URL is not set: start `lmcpp serve` and set it to the server URL (e.g. http://127.0.0.1:8080), or set LMCPP_BIN and LMCPP_GPT_DIR (tests/server/run.sh does), to run the playground browser test';

let own = null;
if (OWN) {
  before(async () => {
    own = await startServer(env.gpt, ['--parallel', '2'], { env: API_KEY ? { LMCPP_API_KEY: API_KEY } : {} });
    SERVER = own.url;
  });
  after(async () => { if (own) await own.stop(); });
}

// puppeteer-core is a devDependency of tests/node (one package.json for the node-side tests).
function loadPuppeteer() {
  const require = createRequire(new URL('../node/package.json', import.meta.url));
  try {
    return require('puppeteer-core');
  } catch (e) {
    throw new Error(`puppeteer-core is not installed: run \`(cd tests/node && PUPPETEER_SKIP_DOWNLOAD=1 npm ci)\` (${e.message})`);
  }
}

const T = 30_000; // per wait

test('playground page drives the server from a real browser', { skip, timeout: 180_000 }, async (t) => {
  const puppeteer = loadPuppeteer();
  assert.ok(existsSync(CHROMIUM), `no browser at ${CHROMIUM} (apt-get install chromium, or set LMCPP_CHROMIUM)`);

  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--headless=new'],
    headless: true,
  });
  const pageErrors = [];
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 820 });
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (m) => { if (m.type() === 'error') t.diagnostic(`console error: ${m.text()}`); });

    if (API_KEY) {
      // stored before the page's script runs, as a person's earlier visit would have left it
      await page.evaluateOnNewDocument((k) => localStorage.setItem('lmcpp.playground.apiKey', k), API_KEY);
    }
    const base = SERVER.replace(/\/+$/, '');
    const res = await page.goto(base + '/', { waitUntil: 'domcontentloaded' });
    assert.equal(res.status(), 200, 'GET / should serve the playground');

    // The model appears (GET /health, GET /v1/models), or the page says why not.
    await page.waitForFunction(() => {
      const s = document.getElementById('status').dataset.state;
      return s === 'error' || (document.getElementById('model').textContent.trim() !== '—' && s === 'ready');
    }, { timeout: T });
    const head = await page.evaluate(() => ({
      model: document.getElementById('model').textContent,
      meta: document.getElementById('model-meta').textContent,
      status: document.getElementById('status').textContent,
      state: document.getElementById('status').dataset.state,
      chat: !document.getElementById('chat-view').hidden,
      encoder: !document.getElementById('encoder-view').hidden,
    }));
    assert.notEqual(head.state, 'error', `page could not load the model: ${head.status}`);
    t.diagnostic(`model ${head.model} (${head.meta})`);

    // n_ctx and kind straight from the API, to size the long reply
    const models = await page.evaluate(async (key) => {
      const r = await fetch('/v1/models', { headers: key ? { Authorization: 'Bearer ' + key } : {} });
      return r.json();
    }, API_KEY);
    const meta = models.data[0].meta || {};
    assert.equal(head.chat, meta.kind !== 'encoder', 'the chat view is shown for a causal-lm');
    assert.equal(head.encoder, meta.kind === 'encoder', 'the encoder view is shown for an encoder');

    if (meta.kind === 'encoder') {
      await encoderChecks(t, page, meta);
    } else {
      await chatChecks(t, page, meta);
    }

    if (SCREENSHOT) {
      await page.emulateNetworkConditions(null);
      await page.screenshot({ path: SCREENSHOT, type: 'png' });
      t.diagnostic(`screenshot: ${SCREENSHOT}`);
    }
    assert.deepEqual(pageErrors, [], 'no uncaught errors in the page');
  } finally {
    await browser.close();
  }
});

async function state(page) {
  return page.evaluate(() => {
    const msgs = [...document.querySelectorAll('.msg.assistant')];
    const last = msgs.at(-1);
    const err = [...document.querySelectorAll('.msg.error')].at(-1);
    return {
      assistants: msgs.length,
      users: document.querySelectorAll('.msg.user').length,
      text: last ? last.textContent : '',
      streaming: last ? last.classList.contains('streaming') : false,
      error: err ? err.textContent : null,
      tps: document.getElementById('tps').textContent,
      ttft: document.getElementById('ttft').textContent,
      ntok: document.getElementById('ntok').textContent,
      finish: document.getElementById('finish').textContent,
      sendDisabled: document.getElementById('send').disabled,
      stopDisabled: document.getElementById('stop').disabled,
      status: document.getElementById('status').textContent,
    };
  });
}

async function setNumber(page, id, value) {
  await page.$eval('#' + id, (e, v) => { e.value = String(v); e.dispatchEvent(new Event('input', { bubbles: true })); }, value);
}

async function waitIdle(page) {
  await page.waitForFunction(() => !document.getElementById('send').disabled && document.getElementById('stop').disabled, { timeout: T });
}

async function chatChecks(t, page, meta) {
  await t.test('a message streams into an assistant reply with tokens/s', async () => {
    let s = await state(page);
    assert.equal(s.sendDisabled, false, 'Send is enabled once the model is loaded');
    assert.equal(s.stopDisabled, true, 'Stop is disabled while idle');

    await setNumber(page, 'max_tokens', Math.min(24, meta.n_ctx ? Math.floor(meta.n_ctx / 2) : 24));
    await page.type('#prompt', 'Hello! Tell me a story.');
    await page.click('#send');

    // some streamed text with a speed, or the reply ended (then checked below), or an error bubble
    await page.waitForFunction(() => {
      const last = [...document.querySelectorAll('.msg.assistant')].at(-1);
      if (document.querySelector('.msg.error')) return true;
      const speed = /\d tok\/s/.test(document.getElementById('tps').textContent);
      return last && last.textContent.length > 0 && (speed || !document.getElementById('send').disabled);
    }, { timeout: T });
    s = await state(page);
    assert.equal(s.error, null, `the server answered with an error: ${s.error}`);
    assert.ok(s.text.length > 0, 'the assistant message has streamed text');
    await waitIdle(page);
    s = await state(page);
    t.diagnostic(`reply 1: ${JSON.stringify(s.text.slice(0, 80))} | ${s.tps}, first token ${s.ttft}, ${s.ntok} tokens, finish ${s.finish}`);
    assert.equal(s.users, 1);
    assert.equal(s.assistants, 1);
    assert.equal(s.streaming, false, 'the streaming cursor goes away at the end');
    assert.match(s.ttft, /^\d+(\.\d+)? s$/, 'time to first token is shown');
    if (Number(s.ntok) > 1) assert.match(s.tps, /^\d+(\.\d+)? tok\/s$/, 'tokens/s is shown');
    else t.diagnostic('only one token came back: tokens/s needs two, not checked');
    assert.ok(['stop', 'length'].includes(s.finish), `finish reason shown (got ${s.finish})`);
  });

  await t.test('Stop aborts a long reply mid-stream and the UI returns to idle', async () => {
    const long = Math.min(200, meta.n_ctx ? Math.max(2, Math.floor(meta.n_ctx / 2)) : 200);
    await setNumber(page, 'max_tokens', long);
    if (THROTTLE > 0) await page.emulateNetworkConditions({ download: THROTTLE, upload: 1_000_000, latency: 0 });
    await page.type('#prompt', 'Now a much longer one, please.');
    await page.click('#send');

    await page.waitForFunction(() => !document.getElementById('stop').disabled, { timeout: T });
    await page.waitForFunction(() => {
      if (document.querySelector('.msg.error')) return true;
      const last = [...document.querySelectorAll('.msg.assistant')].at(-1);
      return (document.querySelectorAll('.msg.assistant').length === 2 && last.textContent.length > 0)
        || !document.getElementById('send').disabled;
    }, { timeout: T });
    let s = await state(page);
    assert.equal(s.error, null, `the server answered with an error: ${s.error}`);
    assert.equal(s.stopDisabled, false, `the reply (max_tokens ${long}) ended before Stop could be pressed; lower LMCPP_STOP_THROTTLE`);
    await page.click('#stop');
    await waitIdle(page);
    await page.emulateNetworkConditions(null);

    s = await state(page);
    const partial = s.text;
    t.diagnostic(`reply 2, stopped: ${JSON.stringify(partial.slice(0, 80))} | ${s.ntok} tokens of up to ${long}`);
    assert.equal(s.sendDisabled, false, 'Send is enabled again after Stop');
    assert.equal(s.stopDisabled, true, 'Stop is disabled again after Stop');
    assert.equal(s.finish, 'stopped', 'the reply is marked stopped');
    assert.equal(s.streaming, false, 'no streaming cursor after Stop');
    assert.equal(s.assistants, 2);
    assert.ok(partial.length > 0, 'the partial text stays');
    assert.match(s.status, /stopped/);
    const tag = await page.$$eval('.row.assistant .note .tag', (ns) => ns.map((n) => n.textContent));
    assert.ok(tag.includes('stopped'), 'the stopped reply is tagged');

    await new Promise((r) => setTimeout(r, 700));
    const after = await state(page);
    assert.equal(after.text, partial, 'no text arrives after Stop');
  });

  await t.test('the conversation goes on after Stop', async () => {
    await setNumber(page, 'max_tokens', 4);
    await page.type('#prompt', 'Thanks.');
    await page.keyboard.press('Enter'); // Enter sends
    await page.waitForFunction(() => document.querySelectorAll('.msg.user').length === 3, { timeout: T });
    await waitIdle(page);
    const s = await state(page);
    assert.equal(s.error, null, `the server answered with an error: ${s.error}`);
    assert.equal(s.assistants, 3);
    assert.equal(await page.$eval('#prompt', (e) => e.value), '', 'the prompt box is cleared after sending');
  });
}

async function encoderChecks(t, page, meta) {
  const labels = Array.isArray(meta.labels) ? meta.labels : [];

  await t.test('similarity of two texts', async () => {
    await page.click('#tab-sim');
    await page.click('#sim_run');
    await page.waitForSelector('#sim_out .big, #sim_out .errbox', { timeout: T });
    const err = await page.$eval('#sim_out', (e) => e.querySelector('.errbox')?.textContent ?? null);
    assert.equal(err, null, `embeddings failed: ${err}`);
    const v = Number(await page.$eval('#sim_out .big', (e) => e.textContent));
    t.diagnostic(`cosine ${v}`);
    assert.ok(v >= -1.0001 && v <= 1.0001, `cosine in [-1, 1], got ${v}`);
  });

  await t.test('classify', { skip: labels.length ? false : 'the model lists no classifier labels' }, async () => {
    await page.click('#tab-classify');
    await page.type('#cls_text', 'This was a wonderful film.');
    await page.click('#cls_run');
    await page.waitForSelector('#cls_out .result, #cls_out .errbox', { timeout: T });
    const err = await page.$eval('#cls_out', (e) => e.querySelector('.errbox')?.textContent ?? null);
    assert.equal(err, null, `classification failed: ${err}`);
    const got = await page.$$eval('#cls_out .result .label', (ns) => ns.map((n) => n.textContent));
    assert.deepEqual([...got].sort(), [...labels].sort(), 'one bar per label');
  });

  await t.test('fill mask shows candidates or the server\'s error', async () => {
    await page.click('#tab-fill');
    await page.click('#fill_run');
    await page.waitForSelector('#fill_out .result, #fill_out .errbox', { timeout: T });
    const n = await page.$$eval('#fill_out .result', (ns) => ns.length);
    const err = await page.$eval('#fill_out', (e) => e.querySelector('.errbox')?.textContent ?? null);
    t.diagnostic(n ? `${n} fill-mask candidates` : `fill-mask error shown: ${err}`);
    assert.ok(n > 0 || (err && err.length > 0));
  });
}
