// `lmcpp embed`: sentence embeddings of a model's final hidden states (generate::embed_text, the function the
// server's /v1/embeddings calls, so the numbers are the same): one text (--text) or a JSON Lines file
// (--input, one {"text"} object or JSON string per line, one output line each).
#include <cstdio>
#include <sstream>
#include <string>

#include "command.h"
#include "lm/interop/open.h"
#include "lm/core/error.h"
#include "lm/core/file_util.h"
#include "lm/core/json.h"
#include "lm/core/threads.h"
#include "lm/generate/pipelines.h"
#include "lm/models/model.h"
#include "lm/tokenize/tokenizer.h"

namespace lm::cli {
namespace {

const CommandSpec kEmbed{
    .name = "embed",
    .summary = "sentence embeddings of texts (BERT: mean or [CLS] pooling; GPT: mean)",
    .description =
        "Runs the model on each text and pools its final hidden states: --pooling mean (every token, [CLS] "
        "and "
        "[SEP] included, as sentence-transformers' mean pooling) or cls (the [CLS] row, encoders only); "
        "--normalize scales to unit L2 norm (the server's /v1/embeddings always normalizes). Give --text for "
        "one "
        "text or --input FILE.jsonl for many ({\"text\": ...} objects or JSON strings, one per line). Prints "
        "{\"embedding\": [...]} per text with --json, else the numbers separated by spaces, one line per "
        "text.",
    .flags =
        {
            string_flag("--model", "DIR", "model directory (bert or gpt2, with tokenizer files)").required(),
            adapter_flag(),
            string_flag("--text", "TEXT", "the text to embed"),
            string_flag("--input", "FILE.jsonl", "texts to embed, one per line"),
            choice_flag("--pooling", {"mean", "cls"}, "mean", "how token vectors become one vector"),
            bool_flag("--normalize", "unit L2 norm"),
            bool_flag("--json", "one JSON line {\"embedding\": [...]} per text"),
            int_flag("--threads", "N", 0, "CPU threads (0: all)"),
        },
    .examples = {
        {.command = "lmcpp embed --model out/sst2 --text \"a gripping film\" --normalize --json"},
    },
};

std::vector<std::string> input_texts(const std::string& path) {
  LM_CHECK_AS(ErrorCode::NotFound, file_exists(path) && !is_directory(path), "--input {} does not exist",
              path);
  std::istringstream in(read_file(path));
  std::vector<std::string> texts;
  std::string line;
  for (int64_t n = 1; std::getline(in, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = fmt::format("{}:{}", path, n);
    const Json j = parse_json(line, where);
    if (j.is_string()) {
      texts.push_back(j.get<std::string>());
      continue;
    }
    LM_CHECK_AS(ErrorCode::BadFormat, j.is_object() && j.contains("text") && j["text"].is_string(),
                "expected a JSON string or an object with a \"text\" string, at {}", where);
    texts.push_back(j["text"].get<std::string>());
  }
  LM_CHECK(!texts.empty(), "--input {} holds no texts", path);
  return texts;
}

int run_embed(const Flags& f) {
  const std::string dir = f.str("--model");
  LM_CHECK(f.given("--text") != f.given("--input"), "give exactly one of --text or --input");
  set_num_threads(static_cast<int>(f.i64("--threads")));
  const std::vector<std::string> texts =
      f.given("--text") ? std::vector<std::string>{f.str("--text")} : input_texts(f.str("--input"));
  for (const auto& t : texts) LM_CHECK(!t.empty(), "a text to embed is empty");
  const std::string adapter = f.str("--adapter"), tdir = interop::tokenizer_source(dir, adapter);
  auto model = interop::load_model(dir, adapter);
  LM_CHECK_AS(ErrorCode::NotFound, interop::has_model_tokenizer(tdir), "embed needs tokenizer files in {}", dir);
  auto tok = interop::load_model_tokenizer(tdir);
  const auto pooling = f.str("--pooling") == "cls" ? generate::Pooling::Cls : generate::Pooling::Mean;
  const bool json = f.on("--json");
  for (const std::string& text : texts) {
    const std::vector<float> e = generate::embed_text(*model, *tok, text, pooling, f.on("--normalize"));
    if (json) {
      std::printf("%s\n", Json{{"embedding", e}}.dump().c_str());
    } else {
      std::string s;
      for (size_t i = 0; i < e.size(); ++i) s += fmt::format("{}{:.9g}", i ? " " : "", e[i]);
      std::printf("%s\n", s.c_str());
    }
  }
  return 0;
}

LM_DECLARE_COMMAND(kEmbed, run_embed);

}  // namespace
}  // namespace lm::cli
