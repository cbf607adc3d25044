// A model's chat format: its chat template (tokenize/chat_template.h) with the special tokens it renders
// with, over the model's tokenizer. Used by chat fine-tuning and evaluation, `lmcpp chat` and the server.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "lm/core/json.h"
#include "lm/tokenize/chat_template.h"
#include "lm/tokenize/tokenizer.h"

namespace lm {

struct ChatFormat {
  ChatTemplateSource source;
  std::shared_ptr<const ChatTemplate> tmpl;
  const Tokenizer* tok = nullptr;
  ChatRender render(const OrderedJson& messages, bool add_generation_prompt) const;
  // Safe ids (special tokens in the template's markup only); offsets: each id's bytes.
  std::vector<int32_t> encode(const ChatRender& r, std::vector<ByteSpan>* offsets = nullptr) const;
};
// The template of dir (find_chat_template), or with `choice` "chatml" the built-in ChatML, or a file's
// template.
ChatFormat load_chat_format(const std::string& dir, const std::string& choice, const Tokenizer& tok);
// The same from a template source found elsewhere (a GGUF file's metadata).
ChatFormat make_chat_format(ChatTemplateSource source, const std::string& choice, const Tokenizer& tok);
// The special tokens a template needs the tokenizer to have (the built-in ChatML: <|im_start|>, <|im_end|>).
std::vector<std::string> chat_special_tokens(const ChatFormat& f);
// The end-of-turn token: ChatML's <|im_end|>, else the template's eos token ("" when it has none).
std::string end_of_turn_token(const ChatFormat& f);

}  // namespace lm
