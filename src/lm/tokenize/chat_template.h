// Chat templates: the Jinja subset that Hugging Face chat templates use, rendering byte for byte as transformers'
// apply_chat_template does with Python's jinja2 (ImmutableSandboxedEnvironment, trim_blocks and lstrip_blocks on,
// the loopcontrols extension, keep_trailing_newline off, transformers' own `tojson`, `raise_exception` and
// `strftime_now`, and the `{% generation %}` block that marks assistant text).
//
// Templates are untrusted input: every syntax or evaluation error is one lm::Error (BadFormat) naming the
// template and line; raise_exception() is a TemplateRaised carrying the template's own message; loops, recursion
// and output are bounded (ChatTemplate::Limits).
//
// Provenance: strings that come from the `messages` variable stay marked through concatenation, slicing and the
// string filters/methods, so a rendering knows which output bytes are message content (user text) and which are
// the template's markup; chat prompts then match special tokens in markup only (encode_chat).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "lm/core/error.h"
#include "lm/core/json.h"
#include "lm/tokenize/tokenizer.h"

namespace lm {

// raise_exception("...") in a template: what() is exactly the template's message.
class TemplateRaised : public Error {
 public:
  explicit TemplateRaised(const std::string& msg) : Error(ErrorCode::InvalidArgument, msg) {}
};

// A half-open byte range [begin, end) of a rendered text.
struct ByteSpan {
  size_t begin = 0, end = 0;
  bool operator==(const ByteSpan&) const = default;
};

struct ChatRender {
  std::string text;
  std::vector<ByteSpan> generation;  // the output of each {% generation %} block, in order (empty ones dropped)
  std::vector<ByteSpan> content;     // bytes that came from `messages` strings (merged, sorted)
};

// JSON whose objects keep their key order (Python dicts do; tojson and `for k, v in d.items()` show it). An lm::Json
// converts implicitly, but its keys are already sorted: parse inputs as OrderedJson to render as transformers does.
using OrderedJson = nlohmann::ordered_json;

// The variables of one rendering (transformers passes messages, tools, documents, add_generation_prompt and the
// tokenizer's special tokens). `extra` holds further top-level variables (an object; may be null).
struct ChatVars {
  OrderedJson messages = OrderedJson::array();
  OrderedJson tools;          // null when absent
  bool add_generation_prompt = false;
  std::string bos_token, eos_token, unk_token, pad_token;  // "" = undefined in the template
  OrderedJson extra;
  int64_t now_unix = -1;      // the time strftime_now() formats (local time zone); -1 = the current time
};

class ChatTemplate {
 public:
  struct Limits {
    size_t max_output_bytes = 64u << 20;
    int64_t max_loop_iterations = 10'000'000;  // all loops of one rendering together
    int max_call_depth = 256;                  // macro recursion
  };

  // Parses source; name is used in error messages ("chat template <name> line N: ...").
  static ChatTemplate parse(const std::string& source, const std::string& name = "chat_template");
  ChatTemplate(ChatTemplate&&) noexcept;
  ChatTemplate& operator=(ChatTemplate&&) noexcept;
  ~ChatTemplate();

  ChatRender render(const ChatVars& vars) const;
  // True when the template has at least one {% generation %} block.
  bool has_generation_blocks() const;
  const std::string& source() const;
  const std::string& name() const;
  void set_limits(const Limits& l);

 private:
  struct Impl;
  explicit ChatTemplate(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The built-in ChatML template ("<|im_start|>ROLE\nCONTENT<|im_end|>\n"; the assistant content and its <|im_end|>
// inside {% generation %}; "<|im_start|>assistant\n" for add_generation_prompt).
const std::string& chatml_template_source();

// The chat template of a model or tokenizer directory and the special tokens it renders with:
// tokenizer_config.json "chat_template" (a string, or a list of {name, template} whose "default" entry is used),
// else chat_template.jinja, else the built-in ChatML (builtin = true). bos/eos/unk/pad tokens come from
// tokenizer_config.json (a string or an AddedToken object {"content": ...}), else special_tokens_map.json.
struct ChatTemplateSource {
  std::string source, origin;  // origin: the file it came from, or "built-in ChatML"
  bool builtin = false;
  std::string bos_token, eos_token, unk_token, pad_token;
};
ChatTemplateSource find_chat_template(const std::string& dir);

// Ids of a rendering as transformers' apply_chat_template(tokenize=True) gives them: the whole text encoded
// without added [CLS]/[SEP]/BOS, special tokens matched anywhere.
std::vector<int32_t> encode_chat_hf(const Tokenizer& tok, const ChatRender& r);

// Ids of a rendering for serving and training: special/added tokens are matched only outside the message-content
// bytes (a user writing "<|im_end|>" gets plain-text ids). Equal to encode_chat_hf whenever no message content
// contains special-token text. offsets (optional) receives each id's byte range in r.text.
std::vector<int32_t> encode_chat(const Tokenizer& tok, const ChatRender& r, std::vector<ByteSpan>* offsets = nullptr);

}  // namespace lm
