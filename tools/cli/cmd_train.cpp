// `lmcpp train --config FILE.json [--set key=value]... --out DIR`: pretraining with resume from DIR's newest
// checkpoint. Ctrl-C stops after the current step and writes a checkpoint.
#include <cmath>
#include <csignal>
#include <cstdio>

#include "command.h"
#include "lm/core/error.h"
#include "lm/core/file_util.h"
#include "lm/core/json.h"
#include "lm/train/trainer.h"

namespace lm::cli {
namespace {

void on_sigint(int) {
  if (train::g_stop_requested.exchange(true)) std::_Exit(130);  // second Ctrl-C: stop now
}

int run_train(Args& a) {
  std::string config_path = a.require("--config");
  std::string out = a.require("--out");
  std::vector<std::string> sets = a.get_all("--set");
  a.finish();
  Json cfg = read_json_file(config_path);
  cfg = train::apply_overrides(cfg, sets);
  train::TrainConfig tc = train::TrainConfig::from_json(cfg);
  std::signal(SIGINT, on_sigint);
  train::TrainResult r = train::run_training(tc, out);
  if (r.rank != 0) return r.interrupted ? 130 : 0;  // data parallel: rank 0 reports for the job
  std::printf("trained to step %lld; last loss %.4f", static_cast<long long>(r.steps), r.last_loss);
  if (std::isfinite(r.best_val_loss)) std::printf("; best val loss %.4f", r.best_val_loss);
  std::printf("%s%s\nmodel: %s\n", r.early_stopped ? " (early stopped)" : "", r.interrupted ? " (interrupted)" : "",
              out.c_str());
  return r.interrupted ? 130 : 0;
}

LM_COMMAND("train", "pretrain a GPT from a prepared data directory (resumes from --out)",
           "usage: lmcpp train --config FILE.json [--set key=value]... --out DIR\n"
           "  Config keys: model (HF-style config object) | init (HF dir), data (lmcpp prepare output),\n"
           "  batch_size, seq_len, grad_accum, max_steps, max_tokens, max_time (s), lr, min_lr, lr_schedule\n"
           "  (constant|linear|cosine|wsd), warmup_steps, decay_fraction, beta1, beta2, eps, weight_decay,\n"
           "  grad_clip, dropout, seed, threads, eval_every, eval_batches, save_every, keep_last, keep_best,\n"
           "  early_stopping_patience, early_stopping_min_delta, log_every, shuffle, max_nonfinite.\n"
           "  --set overrides any key; dotted paths reach nested keys (--set model.n_layer=4).\n"
           "  Writes DIR/metrics.jsonl, DIR/loss.svg, DIR/checkpoints/step_N/, DIR/best/ and the latest model\n"
           "  as an HF directory in DIR. Re-running the same command resumes from the newest checkpoint.",
           run_train);

}  // namespace
}  // namespace lm::cli
