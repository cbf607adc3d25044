// Dialogue fine-tuning and evaluation: conversations ({"messages": [...]} JSON Lines, OpenAI roles) rendered
// with the model's chat template (tokenize/chat_template.h) and scored on the assistant turns only.
//
// Which tokens are trained: the assistant text of each assistant message and the template's end-of-turn token
// that closes it (ChatML: "CONTENT<|im_end|>"). Where the template has {% generation %} blocks, their output
// is that text; otherwise each assistant message i is located by rendering prefixes: render(messages[:i], add
// generation prompt) must be a prefix of render(messages[:i+1]), and the bytes between them, less trailing
// whitespace, are the reply (a template that is not prefix-stable this way is refused with a clear error).
// Every other position's target is -100.
//
// Length: a dialogue longer than the context is cut at turn boundaries (a turn starts at a user message; a
// leading system message is kept in every piece): windows of whole turns, each holding as many turns as fit,
// the oldest first, so every assistant turn is trained once; a single turn longer than the context is cut at
// the end. Evaluation scores every assistant turn once given the earlier turns: a dialogue that fits is one
// pass, one that does not is scored turn by turn, each with the most recent whole turns that fit before it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "lm/core/json.h"
#include "lm/core/progress.h"
#include "lm/models/model.h"
#include "lm/tokenize/chat_format.h"
#include "lm/tokenize/tokenizer.h"
#include "lm/train/finetune.h"

namespace lm::train {

// One conversation of a JSON Lines file; `line` is 1-based.
struct Dialogue {
  OrderedJson messages;  // keys in file order, as Python reads them
  int64_t line = 0;
};
// Reads {"messages": [{"role", "content"}, ...]} lines (blank lines skipped); roles system / user / assistant
// / tool / developer, contents strings. Errors name the file and line.
std::vector<Dialogue> read_dialogues(const std::string& path);

using lm::ChatFormat;

// The byte spans the loss covers in render(messages, false), one per assistant message (see above).
std::vector<ByteSpan> assistant_spans(const ChatFormat& f, const OrderedJson& messages,
                                      const ChatRender& full);

// ids / next-token targets (-100 outside the assistant spans) of one rendering.
QaIds chat_example(const ChatFormat& f, const OrderedJson& messages);
// Training pieces of a dialogue within max_positions (see above); cut counts turns cut at the end.
std::vector<QaIds> chat_training_pieces(const ChatFormat& f, const OrderedJson& messages,
                                        int64_t max_positions, int64_t* cut = nullptr);
// Scoring pieces: every assistant token scored once (see above).
std::vector<QaIds> chat_scoring_pieces(const ChatFormat& f, const OrderedJson& messages,
                                       int64_t max_positions);

struct ChatOptions : TuneSchedule {
  ChatOptions() { epochs = 3, batch_size = 8, lr = 5e-5; }
};

struct ChatEval {
  double loss = 0, perplexity = 0;
  int64_t tokens = 0, dialogues = 0;
  double f1 = -1;  // unigram F1 in percent of generated replies (-1: not measured)
  int64_t replies = 0;
  std::vector<std::string> samples;  // the first generated replies
};
ChatEval evaluate_chat_loss(models::Model& model, const ChatFormat& f, const std::vector<Dialogue>& data,
                            int64_t batch_size, const ProgressSpec& progress = {});
// Greedy replies to every assistant turn (given the earlier turns) of the first max_replies turns, unigram F1
// against the reference (SQuAD normalisation: lower case, no punctuation or articles).
void evaluate_chat_replies(const models::CausalLM& lm, const ChatFormat& f, const std::vector<Dialogue>& data,
                           int64_t max_new, int64_t max_replies, ChatEval& ev, bool progress);

FinetuneResult finetune_chat(models::Model& model, const ChatFormat& f, const std::vector<Dialogue>& train,
                             const std::vector<Dialogue>& val, const ChatOptions& opt,
                             const std::string& out_dir, const std::string& tokenizer_dir);
std::unique_ptr<Objective> make_chat_objective(std::vector<QaIds> train, std::vector<QaIds> val,
                                               const ChatOptions& opt, Communicator& comm);

}  // namespace lm::train
