// `lmcpp export --format gguf`: an HF model directory as a GGUF v3 file for llama.cpp and its ecosystem
// (lm/interop/gguf_model.h does the work), or with --adapter a PEFT LoRA adapter as llama.cpp's adapter GGUF
// (lm/interop/gguf_lora.h).
#include <cstdio>
#include <string>

#include "command.h"
#include "lm/core/error.h"
#include "lm/interop/gguf_lora.h"
#include "lm/interop/gguf_model.h"

namespace lm::cli {
namespace {

const CommandSpec kExport{
    .name = "export",
    .summary = "write a model as a GGUF file that llama.cpp, Ollama and node-llama-cpp load",
    .description =
        "Converts an HF model directory (gpt2 or bert, with its tokenizer files) to GGUF v3: the architecture "
        "metadata, the tokenizer (GPT-2 byte-level BPE with pre-tokenizer \"gpt-2\", or WordPiece in llama.cpp's "
        "form), the special token ids and the chat template. --type sets the type of the 2-D weights (1-D "
        "tensors and the position / token-type tables stay f32; q8_0 rows that are not whole blocks of 32 fall "
        "back to f16). --pooling is llama.cpp's pooling type for encoders (rank: a classifier as reranker). "
        "BERT's pretraining and QA heads have no llama.cpp tensors and are left out. With --adapter the file is the "
        "LoRA adapter alone, as llama.cpp's convert_lora_to_gguf.py writes it (export the base model separately "
        "and load both: llama-cli -m base.gguf --lora adapter.gguf): lora_a/lora_b per adapted weight under its "
        "GGUF name, adapter.lora.alpha set so that llama.cpp's scale alpha / r equals PEFT's (rsLoRA included); "
        "--type applies to the A/B matrices. An adapter that trains whole tensors (modules_to_save, e.g. a "
        "classifier) has no llama.cpp LoRA form and is refused. The file is written atomically. docs/formats.md "
        "lists every key and tensor.",
    .flags =
        {
            string_flag("--model", "DIR", "model directory").required(),
            choice_flag("--format", {"gguf"}, "gguf", "file format"),
            choice_flag("--type", {"f32", "f16", "bf16", "q8_0"}, "f32", "type of the 2-D weights"),
            choice_flag("--pooling", {"mean", "cls", "rank"}, "mean", "encoders: llama.cpp's pooling type"),
            string_flag("--adapter", "DIR",
                        "a LoRA adapter directory (PEFT format) on the model: write the adapter alone as a llama.cpp "
                        "LoRA GGUF"),
            string_flag("--out", "FILE.gguf", "output file").required(),
        },
    .examples = {
        {.command = "lmcpp export --model out/wikipedia/model --format gguf --type q8_0 --out gpt.gguf",
         .comment = "for llama.cpp, Ollama, node-llama-cpp"},
        {.command = "lmcpp export --model out/sst2 --pooling rank --out sst2.gguf"},
        {.command = "lmcpp export --model out/wikipedia/model --adapter out/lora --type f16 --out lora.gguf",
         .comment = "llama-cli -m gpt.gguf --lora lora.gguf"},
    },
};

int run_export(const Flags& f) {
  if (!f.str("--adapter").empty()) {
    const std::string summary =
        interop::export_gguf_lora(f.str("--model"), f.str("--adapter"), f.str("--type"), f.str("--out"));
    std::fprintf(stderr, "lmcpp: wrote %s\n", summary.c_str());
    return 0;
  }
  interop::GgufExportOptions o;
  o.type = f.str("--type");
  o.pooling = f.str("--pooling");
  const std::string summary = interop::export_gguf(f.str("--model"), o, f.str("--out"));
  std::fprintf(stderr, "lmcpp: wrote %s\n", summary.c_str());
  return 0;
}

LM_DECLARE_COMMAND(kExport, run_export);

}  // namespace
}  // namespace lm::cli
