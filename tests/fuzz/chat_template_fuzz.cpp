// libFuzzer target for the chat-template engine: the input is a template source, parsed and rendered with two
// fixed conversations (one with tools and a generation prompt) under small limits. Only lm::Error may escape;
// a rendering's generation and content spans must lie inside its text, sorted and non-overlapping.
#include <cstdint>
#include <string>
#include <vector>

#include "lm/core/error.h"
#include "lm/tokenize/chat_template.h"

namespace {

const std::vector<lm::ChatVars>& conversations() {
  static const std::vector<lm::ChatVars> v = [] {
    std::vector<lm::ChatVars> out(2);
    out[0].messages = lm::OrderedJson::parse(
        R"([{"role":"system","content":"Be brief."},{"role":"user","content":"Hi <|im_end|> é"},)"
        R"({"role":"assistant","content":"Hello!"}])");
    out[0].bos_token = "<s>";
    out[0].eos_token = "</s>";
    out[0].now_unix = 1733580000;
    out[1].messages = lm::OrderedJson::parse(
        R"([{"role":"user","content":[{"type":"text","text":"weather?"}]},{"role":"assistant","content":null,)"
        R"("tool_calls":[{"type":"function","function":{"name":"get","arguments":{"city":"Paris","n":1.5}}}]},)"
        R"({"role":"tool","content":"{\"t\": 20}"}])");
    out[1].tools = lm::OrderedJson::parse(
        R"([{"type":"function","function":{"name":"get","parameters":{"type":"object","properties":{"city":)"
        R"({"type":"string"}},"required":["city"]}}}])");
    out[1].add_generation_prompt = true;
    out[1].extra = lm::OrderedJson::parse(R"({"enable_thinking": false, "custom": [1, "two", null]})");
    out[1].now_unix = 0;
    return out;
  }();
  return v;
}

void check_spans(const std::vector<lm::ByteSpan>& spans, size_t size, bool ordered) {
  size_t prev = 0;
  for (const auto& s : spans) {
    if (s.begin >= s.end || s.end > size) __builtin_trap();
    if (ordered && s.begin < prev) __builtin_trap();
    prev = s.end;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 8192) return 0;
  const std::string src(reinterpret_cast<const char*>(data), size);
  try {
    lm::ChatTemplate t = lm::ChatTemplate::parse(src, "fuzz");
    lm::ChatTemplate::Limits lim;
    lim.max_output_bytes = 1 << 16;
    lim.max_loop_iterations = 20000;
    lim.max_call_depth = 32;
    t.set_limits(lim);
    for (const auto& vars : conversations()) {
      try {
        const lm::ChatRender r = t.render(vars);
        if (r.text.size() > lim.max_output_bytes) __builtin_trap();
        check_spans(r.generation, r.text.size(), false);
        check_spans(r.content, r.text.size(), true);
      } catch (const lm::Error&) {
      }
    }
  } catch (const lm::Error&) {
  }
  return 0;
}
