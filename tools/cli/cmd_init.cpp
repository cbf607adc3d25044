// `lmcpp init`: a freshly initialised model as an HF directory (what `AutoModel.from_config(cfg).save_pretrained()`
// gives in Python): the config (an HF config.json or an inline JSON object), the family's own initialisation from
// --seed, and the tokenizer files, so the directory can be fine-tuned, trained further or compared with a
// pretrained one at equal architecture.
#include <cstdio>

#include "command.h"
#include "out_dir.h"
#include "lm/core/error.h"
#include "lm/core/file_util.h"
#include "lm/core/json.h"
#include "lm/models/model.h"
#include "lm/tokenize/hf_files.h"
#include "lm/tokenize/tokenizer.h"

namespace lm::cli {
namespace {

const CommandSpec kInit{
    .name = "init",
    .summary = "write a freshly initialised model (HF directory) from a config",
    .description = "Writes the model of the config with the family's own initialisation (HF's scheme: normal(0, "
                   "initializer_range), zero biases, LayerNorm 1/0) as an HF directory, with the tokenizer files when "
                   "--tokenizer is given. DIR must not be or hold the config or the tokenizer, nor be a non-empty "
                   "directory lmcpp did not make for init (unless --overwrite).",
    .flags = {
        string_flag("--config", "FILE.json|'{...}'",
                    "an HF config.json (model_type gpt2 or bert; for BERT \"architectures\" picks the head) or the "
                    "same object inline")
            .required(),
        string_flag("--out", "DIR", "output model directory").required(),
        string_flag("--tokenizer", "DIR", "tokenizer files to copy into DIR (vocab_size defaults to its size)"),
        int_flag("--seed", "N", 42, "initialisation seed"),
        bool_flag("--overwrite", "write into a non-empty DIR lmcpp did not make for init (replacing its model files)"),
    },
    .examples = {
        {.command = "lmcpp init --config '{\"model_type\": \"gpt2\", \"n_layer\": 4, \"n_head\": 4, \"n_embd\": 256}' --tokenizer ../shared/data/tokenizers/gpt2 --out out/gpt_init"},
    },
};

int run_init(const Flags& f) {
  const std::string config = f.str("--config");
  const std::string out = f.str("--out");
  const std::string tok_dir = f.str("--tokenizer");
  const uint64_t seed = static_cast<uint64_t>(f.i64("--seed"));
  Json cfg;
  if (!config.empty() && config[0] == '{') {
    cfg = parse_json(config, "--config");
  } else {
    LM_CHECK_AS(ErrorCode::NotFound, file_exists(config), "--config {} does not exist", config);
    cfg = read_json_file(config);
  }
  LM_CHECK(cfg.is_object() && cfg.contains("model_type"), "--config: an HF config object with \"model_type\" "
           "(gpt2 or bert) is required");
  models::check_config_keys(cfg, "--config");  // a typo must not silently give the family's default size
  std::unique_ptr<Tokenizer> tok;
  if (!tok_dir.empty()) {
    tok = load_tokenizer(tok_dir);
    if (!cfg.contains("vocab_size")) cfg["vocab_size"] = tok->vocab_size();
    LM_CHECK(tok->vocab_size() <= cfg["vocab_size"].get<int64_t>(),
             "the tokenizer has {} tokens but vocab_size is {}", tok->vocab_size(), cfg["vocab_size"].dump());
  }
  auto model = models::create_model(cfg);
  model->init_weights(seed);
  OutDir dir({.command = "init",
              .out = out,
              .inputs = {{"--config", config[0] == '{' ? "" : config}, {"--tokenizer", tok_dir}},
              .overwrite = f.on("--overwrite")});
  model->save_hf(out);
  if (tok) {
    tok->save(out, model->max_positions());
    carry_tokenizer_side_files(tok_dir, out);  // a chat template or special tokens of the source directory
  }
  dir.keep();
  std::printf("%s: %s, %lld parameters, initialised with seed %llu\n", out.c_str(),
              model->model_type().c_str(), static_cast<long long>(model->num_parameters()),
              static_cast<unsigned long long>(seed));
  return 0;
}

LM_DECLARE_COMMAND(kInit, run_init);

}  // namespace
}  // namespace lm::cli
