// Load generator for OpenAI-compatible servers (lmcpp serve, llama-server): C concurrent clients each send
// streamed /v1/completions requests back to back (temperature 0, ignore_eos, max_tokens N, the same prompt text)
// until R requests in total are done. Prints one JSON line: aggregate generated tokens/s over the wall time,
// time-to-first-token p50/p99 (ms), and the median per-request decode rate after the first token.
// Usage: node bench/serve_load.mjs URL CLIENTS REQUESTS MAX_TOKENS [PROMPT_WORDS]
const [url, clientsS, requestsS, maxTokS, wordsS] = process.argv.slice(2);
const clients = Number(clientsS), total = Number(requestsS), maxTokens = Number(maxTokS);
const words = Number(wordsS || 32);
const prompt = Array.from({ length: words }, (_, i) => ['the', 'model', 'serves', 'many', 'users', 'at', 'once'][i % 7]).join(' ');

async function one(i) {
  const t0 = performance.now();
  const res = await fetch(url + '/v1/completions', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ prompt: `${i % 4} ${prompt}`, max_tokens: maxTokens, temperature: 0, ignore_eos: true,
                           stream: true, stream_options: { include_usage: true } }),
  });
  if (!res.ok) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  let buf = '', first = 0, last = 0, chunks = 0, usage = null;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    let k;
    while ((k = buf.indexOf('\n\n')) >= 0) {
      const ev = buf.slice(0, k);
      buf = buf.slice(k + 2);
      if (!ev.startsWith('data: ') || ev === 'data: [DONE]') continue;
      const j = JSON.parse(ev.slice(6));
      if (j.usage) usage = j.usage;
      if (j.choices && j.choices.length && j.choices[0].text) {
        const now = performance.now();
        if (!first) first = now;
        last = now;
        chunks++;
      }
    }
  }
  const tokens = usage ? usage.completion_tokens : chunks;
  return { ttft: first - t0, tokens, decode: tokens > 1 && last > first ? (tokens - 1) / ((last - first) / 1000) : 0 };
}

const pct = (a, p) => { const s = [...a].sort((x, y) => x - y); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };
let next = 0;
const results = [];
const t0 = performance.now();
await Promise.all(Array.from({ length: clients }, async () => {
  while (next < total) {
    const i = next++;
    results.push(await one(i));
  }
}));
const wall = (performance.now() - t0) / 1000;
const tokens = results.reduce((s, r) => s + r.tokens, 0);
console.log(JSON.stringify({
  clients, requests: results.length, max_tokens: maxTokens, wall_s: +wall.toFixed(3),
  tokens_per_s: +(tokens / wall).toFixed(2),
  ttft_p50_ms: +pct(results.map(r => r.ttft), 0.5).toFixed(1), ttft_p99_ms: +pct(results.map(r => r.ttft), 0.99).toFixed(1),
  decode_per_stream_p50: +pct(results.map(r => r.decode), 0.5).toFixed(2),
}));
