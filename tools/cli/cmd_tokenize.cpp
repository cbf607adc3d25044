// `lmcpp tokenize` and `lmcpp detokenize` (DESIGN.md section 9): stdin lines (split on "\n" only) to id lines and
// back. Lines are read in batches and encoded on all threads; output order is input order.
#include <charconv>
#include <cstring>
#include <cstdio>
#include <string>
#include <vector>

#include "command.h"
#include "lm/interop/open.h"
#include "lm/core/error.h"
#include "lm/core/json.h"
#include "lm/core/threads.h"
#include "lm/tokenize/batch.h"
#include "lm/tokenize/chat_template.h"
#include "lm/tokenize/tokenizer.h"

namespace lm::cli {
namespace {

// Reads stdin and calls on_batch with complete lines (without "\n"), a batch at a time; a last line without
// "\n" counts as a line.
template <class F>
void for_line_batches(F&& on_batch) {
  constexpr size_t kBatchBytes = 8 << 20, kBatchLines = 16384;
  std::vector<std::string> batch;
  size_t batch_bytes = 0;
  std::string partial;
  std::vector<char> buf(1 << 20);
  while (true) {
    size_t n = std::fread(buf.data(), 1, buf.size(), stdin);
    if (n == 0) break;
    size_t pos = 0;
    while (pos < n) {
      const char* nl = static_cast<const char*>(std::memchr(buf.data() + pos, '\n', n - pos));
      if (!nl) {
        partial.append(buf.data() + pos, n - pos);
        break;
      }
      size_t end = static_cast<size_t>(nl - buf.data());
      partial.append(buf.data() + pos, end - pos);
      batch_bytes += partial.size();
      batch.push_back(std::move(partial));
      partial.clear();
      pos = end + 1;
      if (batch_bytes >= kBatchBytes || batch.size() >= kBatchLines) {
        on_batch(batch);
        batch.clear();
        batch_bytes = 0;
      }
    }
  }
  LM_CHECK_AS(ErrorCode::Internal, !std::ferror(stdin), "reading stdin failed");
  if (!partial.empty()) batch.push_back(std::move(partial));
  if (!batch.empty()) on_batch(batch);
}

void append_ids(std::string& out, const std::vector<int32_t>& ids, char sep) {
  char tmp[16];
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) out.push_back(sep);
    auto r = std::to_chars(tmp, tmp + sizeof(tmp), ids[i]);
    out.append(tmp, r.ptr);
  }
}

std::string text_of_jsonl(const std::string& line, int64_t lineno) {
  Json j = parse_json(line, "stdin line " + std::to_string(lineno));
  if (j.is_string()) return j.get<std::string>();
  LM_CHECK_AS(ErrorCode::BadFormat, j.is_object() && j.contains("text") && j["text"].is_string(),
              "expected a JSON string or an object with a \"text\" string, in stdin line {}", lineno);
  return j["text"].get<std::string>();
}

constexpr const char* kTokenizerHelp =
    "tokenizer directory: vocab.json + merges.txt, encoder.json + vocab.bpe, vocab.txt, tokenizer.json or "
    "char_vocab.json";

const CommandSpec kTokenize{
    .name = "tokenize",
    .summary = "text lines on stdin -> token id lines",
    .description =
        "Reads stdin, one text per line (split on \"\\n\" only; a trailing \"\\r\" is part of the text), and "
        "prints one line per input line: the input_ids HF's tokenizer(text) gives, space-separated (BERT with "
        "[CLS]/[SEP] unless --no-special-tokens).\n"
        "--chat: each stdin line is a JSON object {\"messages\": [{\"role\", \"content\"}, ...]} (optionally "
        "\"add_generation_prompt\": bool, overriding the flag, and \"tools\": [...]) rendered with the tokenizer "
        "directory's chat template (tokenizer_config.json \"chat_template\", else chat_template.jinja, else the "
        "built-in ChatML); prints the ids of HF's apply_chat_template(messages, tokenize=True), or with --render the "
        "rendered text as one JSON string. A template that raises: exit 2 with the template's message.",
    .flags = {
        string_flag("--tokenizer", "DIR", kTokenizerHelp).required(),
        bool_flag("--no-special-tokens", "no [CLS]/[SEP] (BERT) or other special tokens around each text"),
        bool_flag("--json", "one JSON line per text: {\"input_ids\", \"attention_mask\", \"token_type_ids\"}"),
        choice_flag("--input", {"text", "jsonl"}, "text",
                    "jsonl: each stdin line is a JSON string or an object with \"text\" (texts may hold newlines)"),
        int_flag("--threads", "N", 0, "encoding threads (0: all)"),
        bool_flag("--chat", "stdin lines are chat conversations (see above)"),
        bool_flag("--render", "--chat: print the rendered text instead of ids"),
        bool_flag("--add-generation-prompt", "--chat: end with the assistant's generation prompt"),
    },
    .examples = {
        {.command = "echo \"Hello world\" | lmcpp tokenize --tokenizer ../shared/data/tokenizers/gpt2",
         .comment = "GPT-2 ids of one line: 15496 995"},
        {.command = "echo \"Hello world\" | lmcpp tokenize --tokenizer ../shared/data/tokenizers/bert-base-uncased --json",
         .comment = "BERT: [CLS] ... [SEP], with attention_mask and token_type_ids"},
        {.command = "echo '{\"messages\": [{\"role\": \"user\", \"content\": \"Hi!\"}]}' | lmcpp tokenize --chat --tokenizer out/chat/model --render",
         .comment = "a conversation rendered with the chat template"},
    },
};

// --chat: one conversation per line through the chat template.
int run_tokenize_chat(const Flags& f) {
  const std::string dir = f.str("--tokenizer");
  LM_CHECK(!f.on("--json") && !f.on("--no-special-tokens") && f.str("--input") == "text",
           "--chat takes JSON Lines conversations; --json, --no-special-tokens and --input do not apply");
  const ChatTemplateSource src = interop::model_chat_template(dir);
  const ChatTemplate tmpl = ChatTemplate::parse(src.source, src.origin);
  const bool render_only = f.on("--render");
  std::unique_ptr<Tokenizer> tok = render_only ? nullptr : interop::load_model_tokenizer(dir);
  int64_t lineno = 0;
  for_line_batches([&](std::vector<std::string>& lines) {
    std::string out;
    for (const std::string& line : lines) {
      ++lineno;
      const std::string where = "stdin line " + std::to_string(lineno);
      parse_json(line, where);  // one error line naming the stdin line for malformed JSON
      const OrderedJson j = OrderedJson::parse(line);  // keys in their order, as Python's json.loads keeps them
      LM_CHECK_AS(ErrorCode::BadFormat, j.is_object() && j.contains("messages") && j["messages"].is_array(),
                  "expected an object {{\"messages\": [...]}}, in {}", where);
      ChatVars v;
      v.messages = j["messages"];
      v.add_generation_prompt = f.on("--add-generation-prompt");
      if (j.contains("add_generation_prompt")) {
        LM_CHECK_AS(ErrorCode::BadFormat, j["add_generation_prompt"].is_boolean(),
                    "\"add_generation_prompt\" must be true or false, in {}", where);
        v.add_generation_prompt = j["add_generation_prompt"].get<bool>();
      }
      if (j.contains("tools")) v.tools = j["tools"];
      v.bos_token = src.bos_token;
      v.eos_token = src.eos_token;
      v.unk_token = src.unk_token;
      v.pad_token = src.pad_token;
      const ChatRender r = tmpl.render(v);
      if (render_only) {
        out += Json(r.text).dump(-1, ' ', false, Json::error_handler_t::replace);
      } else {
        append_ids(out, encode_chat_hf(*tok, r), ' ');
      }
      out.push_back('\n');
    }
    std::fwrite(out.data(), 1, out.size(), stdout);
  });
  std::fflush(stdout);
  return 0;
}

int run_tokenize(const Flags& f) {
  if (f.on("--chat")) return run_tokenize_chat(f);
  LM_CHECK(!f.on("--render") && !f.on("--add-generation-prompt"), "--render and --add-generation-prompt need --chat");
  const std::string dir = f.str("--tokenizer");
  const bool no_special = f.on("--no-special-tokens");
  const bool json = f.on("--json");
  const std::string input = f.str("--input");
  const int threads = static_cast<int>(f.i64("--threads"));
  auto tok = interop::load_model_tokenizer(dir);
  EncodeOptions opt;
  opt.add_special_tokens = !no_special;
  opt.threads = threads;
  int64_t lineno = 0;
  for_line_batches([&](std::vector<std::string>& lines) {
    if (input == "jsonl")
      for (size_t i = 0; i < lines.size(); ++i) lines[i] = text_of_jsonl(lines[i], lineno + 1 + i);
    lineno += static_cast<int64_t>(lines.size());
    std::vector<std::string> out(lines.size());
    parallel_for(
        static_cast<int64_t>(lines.size()),
        [&](int64_t b, int64_t e, int) {
          for (int64_t i = b; i < e; ++i) {
            Encoding enc = encode_one(*tok, lines[i], nullptr, opt);
            std::string& s = out[i];
            if (json) {
              s = "{\"input_ids\":[";
              append_ids(s, enc.input_ids, ',');
              s += "],\"attention_mask\":[";
              append_ids(s, enc.attention_mask, ',');
              s += "],\"token_type_ids\":[";
              append_ids(s, enc.token_type_ids, ',');
              s += "]}";
            } else {
              append_ids(s, enc.input_ids, ' ');
            }
            s.push_back('\n');
          }
        },
        threads);
    for (auto& s : out) std::fwrite(s.data(), 1, s.size(), stdout);
  });
  std::fflush(stdout);
  return 0;
}

std::vector<int32_t> parse_id_line(const std::string& line, int64_t lineno) {
  std::vector<int32_t> ids;
  const char* p = line.data();
  const char* end = p + line.size();
  while (p < end) {
    if (*p == ' ' || *p == '\t' || *p == ',' || *p == '\r') {
      ++p;
      continue;
    }
    int32_t v;
    auto r = std::from_chars(p, end, v);
    LM_CHECK(r.ec == std::errc() && (r.ptr == end || *r.ptr == ' ' || *r.ptr == '\t' || *r.ptr == ',' ||
                                      *r.ptr == '\r'),
             "expected space-separated integer ids, got '{}', in stdin line {}", line.substr(0, 80), lineno);
    ids.push_back(v);
    p = r.ptr;
  }
  return ids;
}

const CommandSpec kDetokenize{
    .name = "detokenize",
    .summary = "token id lines on stdin -> text lines",
    .description = "Reads stdin lines of space-separated ids and prints the decoded text of each, one line per input "
                   "line.",
    .flags = {
        string_flag("--tokenizer", "DIR", kTokenizerHelp).required(),
        bool_flag("--skip-special-tokens", "drop [CLS]/[SEP]/[PAD]/<|endoftext|> ..."),
        bool_flag("--json", "print each text as one JSON string per line (safe when texts contain newlines; bytes that are not "
                            "UTF-8 become U+FFFD)"),
    },
    .examples = {
        {.command = "echo \"15496 995\" | lmcpp detokenize --tokenizer ../shared/data/tokenizers/gpt2",
         .comment = "prints: Hello world"},
    },
};

int run_detokenize(const Flags& f) {
  const std::string dir = f.str("--tokenizer");
  const bool skip = f.on("--skip-special-tokens");
  const bool json = f.on("--json");
  auto tok = interop::load_model_tokenizer(dir);
  int64_t lineno = 0;
  for_line_batches([&](std::vector<std::string>& lines) {
    std::string out;
    for (auto& line : lines) {
      ++lineno;
      auto ids = parse_id_line(line, lineno);
      for (int32_t id : ids)
        LM_CHECK(id >= 0 && id < tok->vocab_size(), "token id {} out of range [0, {}), in stdin line {}", id,
                 tok->vocab_size(), lineno);
      std::string text = tok->decode(ids, skip);
      out += json ? Json(text).dump(-1, ' ', false, Json::error_handler_t::replace) : text;
      out.push_back('\n');
    }
    std::fwrite(out.data(), 1, out.size(), stdout);
  });
  std::fflush(stdout);
  return 0;
}

LM_DECLARE_COMMAND(kTokenize, run_tokenize);
LM_DECLARE_COMMAND(kDetokenize, run_detokenize);

}  // namespace
}  // namespace lm::cli
