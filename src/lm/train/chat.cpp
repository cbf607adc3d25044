// Dialogues: reading, the chat format of a model, assistant spans and the training / scoring pieces (chat.h).
#include "lm/train/chat.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "lm/core/error.h"
#include "lm/core/file_util.h"
#include "lm/core/log.h"
#include "lm/core/progress.h"
#include "lm/data/task_data.h"

namespace lm::train {

std::vector<Dialogue> read_dialogues(const std::string& path) {
  LM_CHECK_AS(ErrorCode::NotFound, file_exists(path) && !is_directory(path),
              "dialogue file {} does not exist", path);
  std::istringstream in(read_file(path));
  std::vector<Dialogue> out;
  std::string line;
  int64_t n = 0;
  static const std::vector<std::string> kRoles = {"system", "user", "assistant", "tool", "developer"};
  while (std::getline(in, line)) {
    ++n;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = fmt::format("{}:{}", path, n);
    Json j = parse_json(line, where);
    LM_CHECK_AS(ErrorCode::BadFormat, j.is_object() && j.contains("messages") && j["messages"].is_array(),
                "a line must be an object {{\"messages\": [...]}}, at {}", where);
    LM_CHECK_AS(ErrorCode::BadFormat, !j["messages"].empty(), "empty \"messages\", at {}", where);
    OrderedJson msgs = OrderedJson::array();
    for (size_t i = 0; i < j["messages"].size(); ++i) {
      const Json& m = j["messages"][i];
      LM_CHECK_AS(ErrorCode::BadFormat, m.is_object() && m.contains("role") && m["role"].is_string(),
                  "messages[{}] needs a string \"role\", at {}", i, where);
      const std::string role = m["role"].get<std::string>();
      LM_CHECK_AS(ErrorCode::BadFormat, std::find(kRoles.begin(), kRoles.end(), role) != kRoles.end(),
                  "messages[{}] has role \"{}\" (expected system, user, assistant, tool or developer), at {}",
                  i, role, where);
      LM_CHECK_AS(ErrorCode::BadFormat, m.contains("content") && m["content"].is_string(),
                  "messages[{}] needs a string \"content\", at {}", i, where);
      msgs.push_back(OrderedJson{{"role", role}, {"content", m["content"].get<std::string>()}});
    }
    out.push_back(Dialogue{std::move(msgs), n});
  }
  return out;
}

namespace {

bool is_space(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

OrderedJson slice(const OrderedJson& messages, size_t b, size_t e, bool keep_system) {
  OrderedJson out = OrderedJson::array();
  if (keep_system && b > 0 && messages[0]["role"] == "system") out.push_back(messages[0]);
  for (size_t i = b; i < e && i < messages.size(); ++i) out.push_back(messages[i]);
  return out;
}

// Turn starts: indices of user messages (after a leading system message), and the first message itself.
std::vector<size_t> turn_starts(const OrderedJson& messages) {
  std::vector<size_t> s;
  const size_t first = !messages.empty() && messages[0]["role"] == "system" ? 1 : 0;
  for (size_t i = first; i < messages.size(); ++i)
    if (i == first || messages[i]["role"] == "user") s.push_back(i);
  return s;
}

// ids / targets of a rendering, with targets kept only where `keep` spans cover the target token.
QaIds example_of(const ChatFormat& f, const ChatRender& r, const std::vector<ByteSpan>& keep) {
  std::vector<ByteSpan> off;
  std::vector<int32_t> all = f.encode(r, &off);
  QaIds q;
  if (all.size() < 2) return q;
  q.ids.assign(all.begin(), all.end() - 1);
  q.targets.assign(all.size() - 1, -100);
  q.prompt_len = -1;
  for (size_t t = 1; t < all.size(); ++t) {
    const bool in = std::any_of(keep.begin(), keep.end(), [&](const ByteSpan& s) {
      return off[t].begin < s.end && off[t].end > s.begin;
    });
    if (!in) continue;
    q.targets[t - 1] = all[t];
    if (q.prompt_len < 0) q.prompt_len = static_cast<int64_t>(t - 1);
  }
  return q;
}

bool has_targets(const QaIds& q) {
  return std::any_of(q.targets.begin(), q.targets.end(), [](int32_t t) { return t != -100; });
}

// Keeps the first n positions (cut at the end).
void cut_end(QaIds& q, size_t n) {
  if (q.ids.size() <= n) return;
  q.ids.resize(n);
  q.targets.resize(n);
  q.truncated = true;
}

// Keeps the last n positions (cut at the start).
void cut_start(QaIds& q, size_t n) {
  if (q.ids.size() <= n) return;
  const auto d = static_cast<std::ptrdiff_t>(q.ids.size() - n);
  q.ids.erase(q.ids.begin(), q.ids.begin() + d);
  q.targets.erase(q.targets.begin(), q.targets.begin() + d);
  q.truncated = true;
}

}  // namespace

std::vector<ByteSpan> assistant_spans(const ChatFormat& f, const OrderedJson& messages,
                                      const ChatRender& full) {
  if (f.tmpl->has_generation_blocks()) return full.generation;
  std::vector<ByteSpan> spans;
  for (size_t i = 0; i < messages.size(); ++i) {
    if (messages[i]["role"] != "assistant") continue;
    const std::string p = f.render(slice(messages, 0, i, false), true).text;
    const std::string w = f.render(slice(messages, 0, i + 1, false), false).text;
    LM_CHECK_AS(
        ErrorCode::Unsupported,
        w.size() >= p.size() && w.compare(0, p.size(), p) == 0 && full.text.compare(0, w.size(), w) == 0,
        "chat template {} renders messages[{}] differently as a prompt and in the conversation, so the "
        "assistant text cannot be located; give it {{% generation %}} blocks",
        f.source.origin, i);
    size_t e = w.size();
    while (e > p.size() && is_space(w[e - 1])) --e;
    if (e > p.size()) spans.push_back({p.size(), e});
  }
  return spans;
}

QaIds chat_example(const ChatFormat& f, const OrderedJson& messages) {
  const ChatRender r = f.render(messages, false);
  return example_of(f, r, assistant_spans(f, messages, r));
}

std::vector<QaIds> chat_training_pieces(const ChatFormat& f, const OrderedJson& messages,
                                        int64_t max_positions, int64_t* cut) {
  const size_t T = static_cast<size_t>(max_positions);
  QaIds whole = chat_example(f, messages);
  if (whole.ids.size() <= T) {
    if (has_targets(whole)) return {std::move(whole)};
    return {};
  }
  std::vector<size_t> starts = turn_starts(messages);
  starts.push_back(messages.size());
  std::vector<QaIds> out;
  for (size_t a = 0; a + 1 < starts.size();) {
    // The longest run of whole turns from starts[a] that fits.
    size_t b = a + 1;
    QaIds best = chat_example(f, slice(messages, starts[a], starts[b], true));
    while (b + 1 < starts.size()) {
      QaIds next = chat_example(f, slice(messages, starts[a], starts[b + 1], true));
      if (next.ids.size() > T) break;
      best = std::move(next);
      ++b;
    }
    if (best.ids.size() > T) {
      cut_end(best, T);
      if (cut) ++*cut;
    }
    if (has_targets(best)) out.push_back(std::move(best));
    a = b;
  }
  return out;
}

std::vector<QaIds> chat_scoring_pieces(const ChatFormat& f, const OrderedJson& messages,
                                       int64_t max_positions) {
  const size_t T = static_cast<size_t>(max_positions);
  QaIds whole = chat_example(f, messages);
  if (whole.ids.size() <= T) {
    if (has_targets(whole)) return {std::move(whole)};
    return {};
  }
  const std::vector<size_t> starts = turn_starts(messages);
  std::vector<QaIds> out;
  for (size_t k = 0; k < messages.size(); ++k) {
    if (messages[k]["role"] != "assistant") continue;
    // The latest turn start <= k, then earlier ones while the window still fits.
    size_t si = 0;
    while (si + 1 < starts.size() && starts[si + 1] <= k) ++si;
    auto piece = [&](size_t s) {
      const OrderedJson w = slice(messages, starts[s], k + 1, true);
      const ChatRender r = f.render(w, false);
      std::vector<ByteSpan> spans = assistant_spans(f, w, r);
      if (spans.size() > 1) spans.erase(spans.begin(), spans.end() - 1);  // turn k only
      return example_of(f, r, spans);
    };
    QaIds best = piece(si);
    while (si > 0) {
      QaIds wider = piece(si - 1);
      if (wider.ids.size() > T) break;
      best = std::move(wider);
      --si;
    }
    cut_start(best, T);
    if (has_targets(best)) out.push_back(std::move(best));
  }
  return out;
}

ChatEval evaluate_chat_loss(models::Model& model, const ChatFormat& f, const std::vector<Dialogue>& data,
                            int64_t batch_size, const ProgressSpec& progress) {
  std::vector<QaIds> pieces;
  for (const Dialogue& d : data)
    for (QaIds& q : chat_scoring_pieces(f, d.messages, model.max_positions())) pieces.push_back(std::move(q));
  // Longest first: batches of similar lengths pad little; the order is fixed, so the result is deterministic.
  std::stable_sort(pieces.begin(), pieces.end(),
                   [](const QaIds& a, const QaIds& b) { return a.ids.size() > b.ids.size(); });
  ChatEval ev;
  ev.dialogues = static_cast<int64_t>(data.size());
  for (const QaIds& q : pieces)
    for (int32_t t : q.targets) ev.tokens += t != -100;
  ev.loss = qa_answer_loss(model, pieces, batch_size, progress);
  ev.perplexity = std::exp(ev.loss);
  return ev;
}

void evaluate_chat_replies(const models::CausalLM& lm, const ChatFormat& f, const std::vector<Dialogue>& data,
                           int64_t max_new, int64_t max_replies, ChatEval& ev, bool progress) {
  const int64_t T = lm.model().max_positions();
  const int32_t eos = static_cast<int32_t>(lm.eos_token_id());
  int64_t total = 0;
  for (const Dialogue& d : data)
    for (const OrderedJson& m : d.messages) total += m["role"] == "assistant";
  if (max_replies > 0) total = std::min(total, max_replies);
  Progress prog("evaluate", static_cast<double>(total), "replies", progress ? 10.0 : 1e30);
  double f1 = 0;
  ev.replies = 0;
  for (const Dialogue& d : data) {
    const std::vector<size_t> starts = turn_starts(d.messages);
    for (size_t k = 0; k < d.messages.size() && ev.replies < total; ++k) {
      if (d.messages[k]["role"] != "assistant") continue;
      // The prompt: the most recent whole turns that leave max_new positions for the reply.
      std::vector<int32_t> prompt;
      for (size_t si = 0; si < starts.size() && starts[si] <= k; ++si) {
        prompt = f.encode(f.render(slice(d.messages, starts[si], k, true), true));
        if (static_cast<int64_t>(prompt.size()) + max_new <= T) break;
      }
      if (static_cast<int64_t>(prompt.size()) + 1 > T) continue;
      const std::string reply = greedy_answer(lm, *f.tok, prompt, eos, max_new, false);
      f1 += squad_f1(reply, {d.messages[k]["content"].get<std::string>()});
      if (ev.samples.size() < 5) ev.samples.push_back(reply);
      ++ev.replies;
      prog.update(static_cast<double>(ev.replies));
    }
  }
  prog.finish();
  ev.f1 = ev.replies ? 100.0 * f1 / static_cast<double>(ev.replies) : 0.0;
}

}  // namespace lm::train
