// The OpenAI request semantics of completions and chat completions, without HTTP: a request body (JSON) is
// checked field by field and turned into prompts and a SequenceRequest; chat messages are rendered with the
// model's chat template (tokenize/chat_format.h; message contents never become special tokens). Every error is an
// InvalidArgument naming the field, which a server answers with 400. The fuzz target drives parse_request.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lm/core/json.h"
#include "lm/generate/session.h"
#include "lm/tokenize/chat_format.h"
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

// The messages of a request body's "messages" field.
std::vector<ChatMessage> parse_messages(const Json& messages);
// The messages as the chat template sees them: [{"role", "content"}, ...].
OrderedJson messages_json(const std::vector<ChatMessage>& messages);

// Parses a completions (chat = false) or chat completions body. tok may be null (then only token-id prompts);
// chat needs the model's chat format (its end-of-turn text is added to the stop strings).
ApiRequest parse_request(const Json& body, bool chat, const Tokenizer* tok, int64_t vocab_size,
                         const ChatFormat* chat_format = nullptr);

}  // namespace lm::generate
