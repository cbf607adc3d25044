// Writes a PEFT LoRA adapter directory (adapter_config.json + adapter_model.safetensors, as PEFT's
// save_pretrained lays them out) for a GPT-2 or BERT model directory, with seeded random A and non-zero B, so
// that the adapter changes the model's outputs. Independent of lmcpp: the module names and shapes are HF's
// (transformers' GPT2LMHeadModel / BertForMaskedLM), the safetensors bytes are written here.
//
//   node make_adapter.mjs MODEL_DIR OUT_DIR '{"r": 8, "alpha": 16, "rslora": true, "targets": [...], "seed": 1, "b": 0.1}'
//   (optional: "modules_to_save": [...] with "save": {parameter name: shape})
//
// A ~ U(-1/√in, 1/√in) (PEFT's kaiming-uniform init), B ~ U(-b, b) (a trained adapter's B is non-zero).
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';

const [modelDir, outDir, optsJson] = process.argv.slice(2);
const opts = { r: 8, alpha: 16, rslora: false, seed: 1, b: 0.1, ...JSON.parse(optsJson ?? '{}') };
const cfg = JSON.parse(readFileSync(path.join(modelDir, 'config.json'), 'utf8'));

// Module path -> [in, out] of every linear module of the blocks, HF names.
function linearModules() {
  const out = {};
  if (cfg.model_type === 'gpt2') {
    const C = cfg.n_embd, I = cfg.n_inner ?? 4 * C;
    for (let l = 0; l < cfg.n_layer; ++l) {
      const h = `transformer.h.${l}`;
      Object.assign(out, { [`${h}.attn.c_attn`]: [C, 3 * C], [`${h}.attn.c_proj`]: [C, C], [`${h}.mlp.c_fc`]: [C, I], [`${h}.mlp.c_proj`]: [I, C] });
    }
  } else if (cfg.model_type === 'bert') {
    const C = cfg.hidden_size, I = cfg.intermediate_size;
    for (let l = 0; l < cfg.num_hidden_layers; ++l) {
      const n = `bert.encoder.layer.${l}`;
      Object.assign(out, {
        [`${n}.attention.self.query`]: [C, C], [`${n}.attention.self.key`]: [C, C], [`${n}.attention.self.value`]: [C, C],
        [`${n}.attention.output.dense`]: [C, C], [`${n}.intermediate.dense`]: [C, I], [`${n}.output.dense`]: [I, C],
      });
    }
  } else {
    throw new Error(`make_adapter: model_type ${cfg.model_type}`);
  }
  return out;
}

// mulberry32: a small seeded generator, uniform in [0, 1).
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// safetensors: u64 header length, JSON header {name: {dtype, shape, data_offsets}}, then the raw bytes.
function safetensors(tensors) {
  const header = { __metadata__: { format: 'pt' } };
  let off = 0;
  for (const [name, { shape, data }] of tensors) {
    header[name] = { dtype: 'F32', shape, data_offsets: [off, off + data.byteLength] };
    off += data.byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  return Buffer.concat([len, Buffer.from(json), ...tensors.map(([, t]) => Buffer.from(t.data.buffer))]);
}

const rand = rng(opts.seed);
const uniform = (n, bound) => Float32Array.from({ length: n }, () => (2 * rand() - 1) * bound);
const tensors = [];
const targets = opts.targets;
for (const [module, [inF, outF]] of Object.entries(linearModules())) {
  if (!targets.some((t) => module === t || module.endsWith(`.${t}`))) continue;
  const p = `base_model.model.${module}`;
  tensors.push([`${p}.lora_A.weight`, { shape: [opts.r, inF], data: uniform(opts.r * inF, 1 / Math.sqrt(inF)) }]);
  tensors.push([`${p}.lora_B.weight`, { shape: [outF, opts.r], data: uniform(outF * opts.r, opts.b) }]);
}
// modules_to_save tensors (e.g. a classifier trained whole): {"save": {"classifier.weight": [2, 64], ...}}.
for (const [name, shape] of Object.entries(opts.save ?? {}))
  tensors.push([`base_model.model.${name}`, { shape, data: uniform(shape.reduce((a, b) => a * b, 1), opts.b) }]);
if (!tensors.length) throw new Error('make_adapter: no module matches the targets');
mkdirSync(outDir, { recursive: true });
writeFileSync(path.join(outDir, 'adapter_model.safetensors'), safetensors(tensors));
writeFileSync(path.join(outDir, 'adapter_config.json'), JSON.stringify({
  peft_type: 'LORA', r: opts.r, lora_alpha: opts.alpha, lora_dropout: 0, use_rslora: opts.rslora, bias: 'none',
  target_modules: targets, modules_to_save: opts.modules_to_save ?? null, fan_in_fan_out: cfg.model_type === 'gpt2',
  task_type: cfg.model_type === 'gpt2' ? 'CAUSAL_LM' : 'FEATURE_EXTRACTION', base_model_name_or_path: modelDir,
  init_lora_weights: true, inference_mode: true,
}, null, 2) + '\n');
