// ChatFormat (chat_format.h).
#include "lm/tokenize/chat_format.h"

#include "lm/core/error.h"
#include "lm/core/file_util.h"

namespace lm {

ChatRender ChatFormat::render(const OrderedJson& messages, bool add_generation_prompt) const {
  ChatVars v;
  v.messages = messages;
  v.add_generation_prompt = add_generation_prompt;
  v.bos_token = source.bos_token;
  v.eos_token = source.eos_token;
  v.unk_token = source.unk_token;
  v.pad_token = source.pad_token;
  return tmpl->render(v);
}

std::vector<int32_t> ChatFormat::encode(const ChatRender& r, std::vector<ByteSpan>* offsets) const {
  return encode_chat(*tok, r, offsets);
}

ChatFormat load_chat_format(const std::string& dir, const std::string& choice, const Tokenizer& tok) {
  return make_chat_format(find_chat_template(dir), choice, tok);
}

ChatFormat make_chat_format(ChatTemplateSource source, const std::string& choice, const Tokenizer& tok) {
  ChatFormat f;
  f.source = std::move(source);
  if (choice == "chatml") {
    f.source.source = chatml_template_source();
    f.source.origin = "built-in ChatML";
    f.source.builtin = true;
  } else if (!choice.empty()) {
    LM_CHECK_AS(ErrorCode::NotFound, file_exists(choice) && !is_directory(choice),
                "template file {} does not exist", choice);
    f.source.source = read_file(choice);
    f.source.origin = choice;
    f.source.builtin = false;
  }
  f.tmpl = std::make_shared<const ChatTemplate>(ChatTemplate::parse(f.source.source, f.source.origin));
  f.tok = &tok;
  return f;
}

static bool is_chatml(const ChatFormat& f) {
  return f.source.builtin || f.source.source == chatml_template_source();
}

std::vector<std::string> chat_special_tokens(const ChatFormat& f) {
  if (is_chatml(f)) return {"<|im_start|>", "<|im_end|>"};
  return {};
}

std::string end_of_turn_token(const ChatFormat& f) {
  if (is_chatml(f)) return "<|im_end|>";
  return f.source.eos_token;
}

}  // namespace lm
