// `lmcpp export --format gguf`: an HF model directory as a GGUF v3 file for llama.cpp and its ecosystem
// (lm/interop/gguf_model.h does the work).
#include <cstdio>
#include <string>

#include "command.h"
#include "lm/core/error.h"
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
        "BERT's pretraining and QA heads have no llama.cpp tensors and are left out. The file is written "
        "atomically. docs/formats.md lists every key and tensor.",
    .flags =
        {
            string_flag("--model", "DIR", "model directory").required(),
            choice_flag("--format", {"gguf"}, "gguf", "file format"),
            choice_flag("--type", {"f32", "f16", "bf16", "q8_0"}, "f32", "type of the 2-D weights"),
            choice_flag("--pooling", {"mean", "cls", "rank"}, "mean", "encoders: llama.cpp's pooling type"),
            string_flag("--out", "FILE.gguf", "output file").required(),
        },
    .examples = {
        {.command = "lmcpp export --model out/wikipedia/model --format gguf --type q8_0 --out gpt.gguf",
         .comment = "for llama.cpp, Ollama, node-llama-cpp"},
        {.command = "lmcpp export --model out/sst2 --pooling rank --out sst2.gguf"},
    },
};

int run_export(const Flags& f) {
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
