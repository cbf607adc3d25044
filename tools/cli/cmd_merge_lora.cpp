// `lmcpp merge-lora`: a model directory with a PEFT LoRA adapter folded into its weights (interop/merge_lora.h).
#include <cstdio>

#include "command.h"
#include "out_dir.h"
#include "lm/core/error.h"
#include "lm/core/threads.h"
#include "lm/interop/merge_lora.h"

namespace lm::cli {
namespace {

const CommandSpec kMergeLora{
    .name = "merge-lora",
    .summary = "fold a LoRA adapter into its model and write a plain HF model directory",
    .description =
        "Loads --model with the PEFT adapter of --adapter, folds it into the weights (W += scale * B*A for every "
        "adapted module; modules_to_save tensors replace the model's) and writes DIR: config.json, "
        "model.safetensors, generation_config.json for causal LMs, and the tokenizer files (the adapter "
        "directory's when it has tokenizer files, else the model's). DIR loads without the adapter and gives the "
        "outputs the unmerged --adapter run gives, up to float rounding. DIR must not be or hold an input, nor "
        "be a non-empty directory lmcpp did not make for merge-lora (unless --overwrite); a run that fails "
        "leaves no DIR behind.",
    .flags = {
        string_flag("--model", "DIR", "the base model directory (or FILE.gguf) the adapter was trained on")
            .required(),
        string_flag("--adapter", "DIR", "the LoRA adapter directory (adapter_config.json + "
                                        "adapter_model.safetensors)")
            .required(),
        string_flag("--out", "DIR", "output model directory").required(),
        int_flag("--threads", "N", 0, "CPU threads (0: all)"),
        bool_flag("--overwrite",
                  "write into a non-empty DIR lmcpp did not make for merge-lora (replacing its model files)"),
    },
    .examples = {
        {.command = "lmcpp merge-lora --model out/wikipedia/model --adapter out/chat-lora --out out/chat-merged",
         .comment = "then: lmcpp generate --model out/chat-merged ... (no --adapter needed)"},
    },
};

int run_merge_lora(const Flags& f) {
  const std::string model = f.str("--model"), adapter = f.str("--adapter"), out = f.str("--out");
  set_num_threads(static_cast<int>(f.i64("--threads")));
  // Every input error is thrown before DIR is made.
  interop::MergedModel m = interop::load_merged(model, adapter);
  OutDir dir({.command = "merge-lora",
              .out = out,
              .inputs = {{"--model", model}, {"--adapter", adapter}},
              .overwrite = f.on("--overwrite")});
  const interop::MergeResult r = interop::save_merged(m, out);
  dir.keep();
  std::printf("%s: %s with %lld LoRA modules of %s merged in; tokenizer files from %s\n", out.c_str(),
              m.lora->architecture().c_str(), static_cast<long long>(r.modules), adapter.c_str(),
              r.tokenizer_from.empty() ? "nowhere (the model has none)" : r.tokenizer_from.c_str());
  return 0;
}

LM_DECLARE_COMMAND(kMergeLora, run_merge_lora);

}  // namespace
}  // namespace lm::cli
