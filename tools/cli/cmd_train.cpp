// `lmcpp train --config FILE.json [--set key=value]... --out DIR`: pretraining with resume from DIR's newest
// checkpoint. Ctrl-C stops after the current step and writes a checkpoint.
#include <cmath>
#include <csignal>
#include <cstdio>

#include "command.h"
#include "out_dir.h"
#include "lm/core/error.h"
#include "lm/core/file_util.h"
#include "lm/core/json.h"
#include "lm/models/model.h"
#include "lm/train/train_config.h"
#include "lm/train/trainer.h"

namespace lm::cli {
namespace {

void on_signal(int) {
  if (train::g_stop_requested.exchange(true)) std::_Exit(130);  // second Ctrl-C: stop now
}

// The config keys from the declarations: the train keys (default and help) of the library's table, then the keys
// each model family's "model" object accepts, and transformers' common ones that any family's may carry.
std::string config_keys_help() {
  std::vector<std::pair<std::string, std::string>> rows;
  for (const auto& k : train::train_config_keys())
    rows.emplace_back(k.name, k.help + (k.default_text.empty() ? "" : " (default: " + k.default_text + ")"));
  std::vector<std::pair<std::string, std::string>> model_rows;
  for (const std::string& type : models::model_types()) {
    const models::ModelFamily& family = models::model_family(Json{{"model_type", type}});
    model_rows.emplace_back(type, family.config_keys ? fmt::format("{}", fmt::join(family.config_keys(), ", "))
                                                     : "any key (this family does not declare its keys)");
  }
  model_rows.emplace_back("(any)", fmt::format("{}", fmt::join(models::common_config_keys(), ", ")));
  return "config keys (FILE.json; --set overrides any, dotted paths reach nested keys: --set model.n_layer=4):\n" +
         format_rows(rows) +
         "\nmodel keys (the \"model\" object, by its model_type; HF config.json names, unknown keys are an error):\n" +
         format_rows(model_rows);
}

const CommandSpec kTrain{
    .name = "train",
    .summary = "pretrain a GPT or a BERT (as the config's model says) on a prepared data directory",
    .description =
        "Pretrains the model of the config from a directory written by lmcpp prepare: a GPT (model_type \"gpt2\") "
        "by next-token prediction, or a BERT (model_type \"bert\") by masked-LM + next-sentence prediction on a "
        "sentences-layout directory (lmcpp prepare --layout sentences, the default for WordPiece tokenizers). "
        "Started by mpirun (or torchrun-style environment variables) each process trains one data-parallel "
        "shard.\n"
        "Writes DIR/metrics.jsonl, DIR/loss.svg, DIR/train_config.json (every key with its value), "
        "DIR/checkpoints/step_N/, DIR/best/ and the latest model as an HF directory in DIR. Re-running the same "
        "command resumes from the newest checkpoint, when the config is the same but for the keys a resume may change "
        "(max_steps, max_tokens, max_time, eval_every, eval_batches, save_every, keep_last, keep_best, log_every, "
        "threads, device, batch_size, early stopping, max_nonfinite); another config is refused, naming the keys, "
        "and --overwrite starts afresh. DIR must not be or hold the data or init directory, nor a non-empty "
        "directory lmcpp did not make for train. Ctrl-C (or SIGTERM) stops after the current step with a "
        "checkpoint.",
    .flags = {
        string_flag("--config", "FILE.json", "the train config (keys below)").required(),
        repeated_flag("--set", "KEY=VALUE", "override a config key; VALUE is JSON, else a string"),
        string_flag("--out", "DIR", "output directory (and the run to resume)").required(),
        bool_flag("--overwrite", "start afresh in DIR: remove the files lmcpp wrote there (a run to resume, "
                                 "another command's output)"),
    },
    .more_help = config_keys_help,
    .examples = {
        {.command = "lmcpp train --config configs/shakespeare_char.json --out out/shakespeare_char/model",
         .comment = "a character-level GPT on out/shakespeare_char/data (see lmcpp prepare)"},
        {.command = "lmcpp train --config configs/wikipedia_gpt2_small.json --set max_steps=300 --set model.n_layer=4 --out out/wikipedia/model",
         .comment = "overriding config keys"},
        {.command = "lmcpp train --config configs/bert_small_pretrain.json --out out/bert_small",
         .comment = "BERT pretraining (masked LM + next sentence) on out/bert_data"},
    },
};

int run_train(const Flags& f) {
  const std::string config_path = f.str("--config");
  const std::string out = f.str("--out");
  const std::vector<std::string>& sets = f.all("--set");
  Json cfg = read_json_file(config_path);
  cfg = train::apply_overrides(cfg, sets);
  train::TrainConfig tc = train::TrainConfig::from_json(cfg);
  const bool overwrite = f.on("--overwrite");
  if (!overwrite && is_directory(out)) {
    const std::vector<std::string> changes = train::resume_config_changes(out, tc.raw);
    LM_CHECK(changes.empty(), "--out {} holds a run with another config ({}): re-run with its config to resume it, or "
             "pass --overwrite to start afresh", out, fmt::join(changes, "; "));
  }
  OutDir dir({.command = "train", .out = out, .inputs = {{"data", tc.data}, {"init", tc.init}},
              .overwrite = overwrite});
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  train::TrainResult r;
  try {
    r = train::run_training(tc, out);
  } catch (const Error& e) {
    if (!e.is_input_error()) dir.keep();  // a failure mid-run: metrics.jsonl says what happened
    throw;
  }
  dir.keep();
  if (r.rank != 0) return r.interrupted ? 130 : 0;  // data parallel: rank 0 reports for the job
  std::printf("trained to step %lld; last loss %.4f", static_cast<long long>(r.steps), r.last_loss);
  if (std::isfinite(r.best_val_loss)) std::printf("; best val loss %.4f", r.best_val_loss);
  std::printf("%s%s\nmodel: %s\n", r.early_stopped ? " (early stopped)" : "", r.interrupted ? " (interrupted)" : "",
              out.c_str());
  return r.interrupted ? 130 : 0;
}

LM_DECLARE_COMMAND(kTrain, run_train);

}  // namespace
}  // namespace lm::cli
