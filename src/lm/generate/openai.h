// The OpenAI request semantics of completions and chat completions, without HTTP: a request body (JSON) is
// checked field by field and turned into prompts and a SequenceRequest; chat messages are rendered with the
// ChatML template (tokenizer_config.json templates come with the chat template engine). Every error is an
// InvalidArgument naming the field, which a server answers with 400. The fuzz target drives parse_request.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lm/core/json.h"
#include "lm/generate/session.h"
#include "lm/tokenize/tokenizer.h"

namespace lm::generate {

struct ChatMessage {
  std::string role;     // system, user, assistant, tool, developer
  std::string content;
};

struct ApiRequest {
  bool chat = false;
  std::string model;                          // as given ("" when absent)
  std::vector<std::vector<int32_t>> prompts;  // completions: one or more prompts; chat: one
  std::vector<ChatMessage> messages;          // chat
  SequenceRequest params;                     // shared by every choice (prompt and stream set per choice)
  bool max_tokens_given = false;
  int n = 1;                                  // choices per prompt
  bool stream = false, include_usage = false;
  bool logprobs = false;                      // chat: logprobs: true / completions: logprobs: k
};

// Renders messages as ChatML: "<|im_start|>ROLE\nCONTENT<|im_end|>\n" per message, then "<|im_start|>assistant\n"
// when add_generation_prompt.
std::string render_chatml(const std::vector<ChatMessage>& messages, bool add_generation_prompt);
// The ids of the ChatML rendering: the template's markers are encoded with special-token matching (they become
// special tokens where the vocabulary has them), each message's content with none (a user writing
// "<|endoftext|>" gets plain-text ids, never the special id).
std::vector<int32_t> encode_chatml(const Tokenizer& tok, const std::vector<ChatMessage>& messages,
                                   bool add_generation_prompt);
// The messages of a request body's "messages" field.
std::vector<ChatMessage> parse_messages(const Json& messages);

// Parses a completions (chat = false) or chat completions body. tok may be null (then only token-id prompts).
ApiRequest parse_request(const Json& body, bool chat, const Tokenizer* tok, int64_t vocab_size);

}  // namespace lm::generate
