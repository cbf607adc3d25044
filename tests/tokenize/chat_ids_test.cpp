// Chat ids vs Hugging Face tokenizers: the ChatML goldens rendered by lmcpp, encoded with the GPT-2
// vocabulary plus <|im_start|> / <|im_end|> added as special tokens (ids 50257, 50258), give the ids of HF's
// apply_chat_template(tokenize=True) (tests/reference/tokenizers/gen_chat_ids.mjs, npm tokenizers). The safe
// encoding matches special tokens outside message bytes only: the same ids except where a message holds
// special-token text, which stays plain text.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "harness/harness.h"
#include "lm/core/file_util.h"
#include "lm/core/json.h"
#include "lm/tokenize/bpe.h"
#include "lm/tokenize/chat_template.h"

namespace lm::test {
namespace {

TEST(ChatIds, ChatMLGoldensMatchHfTokenizers) {
  LM_REQUIRE_SHARED_DATA();
  const std::string dir = source_dir() + "/tests/tokenize/chat_templates";
  auto gpt2 = load_tokenizer(shared_data_dir() + "/tokenizers/gpt2");
  auto tok = dynamic_cast<BpeTokenizer&>(*gpt2).with_added_tokens({"<|im_start|>", "<|im_end|>"});
  ASSERT_EQ(*tok->token_to_id("<|im_start|>"), 50257);
  ASSERT_EQ(*tok->token_to_id("<|im_end|>"), 50258);
  const ChatTemplate tmpl = ChatTemplate::parse(read_file(dir + "/chatml.jinja"), "chatml.jinja");
  const Json goldens = read_json_file(dir + "/goldens.json");
  const Json cases = read_json_file(dir + "/chatml_gpt2_ids.json");
  ASSERT_GE(cases.size(), 10u);
  int differing = 0;
  for (const Json& c : cases) {
    const std::string probe = c["probe"].get<std::string>();
    const bool agp = c["add_generation_prompt"].get<bool>();
    const Json* g = nullptr;
    for (const Json& x : goldens)
      if (x["template"] == "chatml.jinja" && x["probe"] == probe && x["vars"]["add_generation_prompt"] == agp)
        g = &x;
    ASSERT_NE(g, nullptr) << probe;
    ChatVars v;
    v.messages = (*g)["vars"]["messages"];
    v.add_generation_prompt = agp;
    const ChatRender r = tmpl.render(v);
    ASSERT_EQ(r.text, c["text"].get<std::string>()) << probe;
    std::vector<ByteSpan> want;
    for (const Json& s : c["content"]) want.push_back({s[0].get<size_t>(), s[1].get<size_t>()});
    EXPECT_EQ(r.content, want) << probe;
    EXPECT_EQ(encode_chat_hf(*tok, r), c["hf_ids"].get<std::vector<int32_t>>()) << probe;
    EXPECT_EQ(encode_chat(*tok, r), c["chat_ids"].get<std::vector<int32_t>>()) << probe;
    differing += c["hf_ids"] != c["chat_ids"];
  }
  EXPECT_GE(differing, 1);  // the special-text probe: HF turns a user's "<|im_end|>" into the control token
}

}  // namespace
}  // namespace lm::test
