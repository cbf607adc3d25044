// The server renders chat with the model's own Hugging Face chat template: a copy of the small GPT whose
// tokenizer_config.json carries Zephyr's real template (tests/tokenize/chat_templates/) must answer /apply-template
// with the text Python's jinja2 renders (the golden of tests/reference/gen_chat_templates.py), and a chat
// completion's prompt is exactly the ids of that text; a template's raise_exception becomes a 400 with its message.
//
//   tests/server/run.sh BIN tests/server/template.test.mjs

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer, needs, env, assertErrorShape } from './harness.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const TEMPLATES = path.join(ROOT, 'tests/tokenize/chat_templates');

function golden(template, probe, agp) {
  const all = JSON.parse(readFileSync(path.join(TEMPLATES, 'goldens.json'), 'utf8'));
  const c = all.find((x) => x.template === template && x.probe === probe && x.vars.add_generation_prompt === agp);
  assert.ok(c, `golden ${template} ${probe} ${agp}`);
  return c;
}

describe('chat templates in the server', { skip: needs('bin', 'gpt'), timeout: 120_000 }, () => {
  let srv, dir;
  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'lmcpp-template-'));
    cpSync(env.gpt, dir, { recursive: true });
    const g = golden('HuggingFaceH4-zephyr-7b-beta.jinja', 'system_user', true);
    writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify({
      chat_template: readFileSync(path.join(TEMPLATES, 'HuggingFaceH4-zephyr-7b-beta.jinja'), 'utf8'),
      eos_token: g.vars.eos_token, bos_token: g.vars.bos_token,
    }));
    srv = await startServer(dir);
  });
  after(async () => {
    if (srv) await srv.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('/apply-template renders the model template as jinja2 does', async () => {
    for (const agp of [true, false]) {
      const g = golden('HuggingFaceH4-zephyr-7b-beta.jinja', 'system_user', agp);
      const r = await srv.post('/apply-template', { messages: g.vars.messages, add_generation_prompt: agp });
      assert.equal(r.status, 200);
      assert.equal(r.json.prompt, g.text);
    }
  });

  test('a chat completion prompts with the ids of that rendering', async () => {
    const g = golden('HuggingFaceH4-zephyr-7b-beta.jinja', 'system_user', true);
    const ids = (await srv.post('/tokenize', { content: g.text })).json.tokens;
    const r = await srv.post('/v1/chat/completions', { messages: g.vars.messages, max_tokens: 2, temperature: 0 });
    assert.equal(r.status, 200);
    assert.equal(r.json.usage.prompt_tokens, ids.length);
  });

  test('raise_exception is a 400 carrying the template message', async () => {
    const bad = path.join(dir, 'tokenizer_config.json');
    const cfg = JSON.parse(readFileSync(bad, 'utf8'));
    assert.ok(cfg.chat_template);
    // Gemma 2 refuses a system message: a second server with that template.
    const g = golden('google-gemma-2-2b-it.jinja', 'system_user', true);
    assert.ok(g.error, 'the golden records the raise');
    cfg.chat_template = readFileSync(path.join(TEMPLATES, 'google-gemma-2-2b-it.jinja'), 'utf8');
    const dir2 = mkdtempSync(path.join(os.tmpdir(), 'lmcpp-template-'));
    cpSync(dir, dir2, { recursive: true });
    writeFileSync(path.join(dir2, 'tokenizer_config.json'), JSON.stringify(cfg));
    const s2 = await startServer(dir2);
    try {
      const r = await s2.post('/v1/chat/completions', { messages: g.vars.messages, max_tokens: 2 });
      assertErrorShape(r, 400);
      assert.match(r.json.error.message, new RegExp(g.error));
    } finally {
      await s2.stop();
      rmSync(dir2, { recursive: true, force: true });
    }
  });
});
