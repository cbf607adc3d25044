// Generation requests, the stop-string/UTF-8-safe text stream and the consumer handle.
#include "lm/generate/session.h"

#include <algorithm>
#include <cmath>

#include "lm/core/error.h"

namespace lm::generate {

void SequenceRequest::validate(int64_t vocab_size) const {
  LM_CHECK(!prompt.empty(), "the prompt is empty (at least one token is needed)");
  for (size_t i = 0; i < prompt.size(); ++i)
    LM_CHECK(prompt[i] >= 0 && prompt[i] < vocab_size, "prompt token {} at position {} is out of range for "
             "vocab_size {}", prompt[i], i, vocab_size);
  LM_CHECK(max_tokens >= 1, "max_tokens must be >= 1, got {}", max_tokens);
  sampling.validate();
  LM_CHECK(std::isfinite(presence_penalty) && presence_penalty >= -2 && presence_penalty <= 2,
           "presence_penalty must be in [-2, 2], got {}", presence_penalty);
  LM_CHECK(std::isfinite(frequency_penalty) && frequency_penalty >= -2 && frequency_penalty <= 2,
           "frequency_penalty must be in [-2, 2], got {}", frequency_penalty);
  LM_CHECK(top_logprobs >= -1 && top_logprobs <= 20, "top_logprobs must be in [0, 20], got {}", top_logprobs);
  for (const auto& s : stop) LM_CHECK(!s.empty(), "a stop string is empty");
}

// ---- UTF-8 ----

namespace {

// The length a lead byte announces (0: not a lead byte).
int lead_length(unsigned char c) {
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return 2;
  if (c >= 0xE0 && c <= 0xEF) return 3;
  if (c >= 0xF0 && c <= 0xF4) return 4;
  return 0;
}

// Length of the valid UTF-8 character at s[i] (0 if invalid or cut short), with the RFC 3629 second-byte ranges.
int valid_char(const std::string& s, size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  const int n = lead_length(c);
  if (n <= 1) return n;
  if (i + static_cast<size_t>(n) > s.size()) return 0;
  const auto c1 = static_cast<unsigned char>(s[i + 1]);
  unsigned char lo = 0x80, hi = 0xBF;
  if (c == 0xE0) lo = 0xA0;
  if (c == 0xED) hi = 0x9F;
  if (c == 0xF0) lo = 0x90;
  if (c == 0xF4) hi = 0x8F;
  if (c1 < lo || c1 > hi) return 0;
  for (int k = 2; k < n; ++k)
    if ((static_cast<unsigned char>(s[i + static_cast<size_t>(k)]) & 0xC0) != 0x80) return 0;
  return n;
}

}  // namespace

std::string sanitize_utf8(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const int n = valid_char(s, i);
    if (n > 0) {
      out.append(s, i, static_cast<size_t>(n));
      i += static_cast<size_t>(n);
      continue;
    }
    out += "\xEF\xBF\xBD";
    // Skip the lead and the continuation bytes that belonged to it (one replacement per broken character).
    size_t j = i + 1;
    while (j < s.size() && j < i + 4 && (static_cast<unsigned char>(s[j]) & 0xC0) == 0x80 &&
           lead_length(static_cast<unsigned char>(s[i])) > 1)
      ++j;
    i = j;
  }
  return out;
}

size_t complete_utf8_prefix(const std::string& s) {
  // An unfinished character can only start in the last three bytes.
  for (size_t back = 1; back <= 3 && back <= s.size(); ++back) {
    const size_t i = s.size() - back;
    const auto c = static_cast<unsigned char>(s[i]);
    if ((c & 0xC0) == 0x80) continue;  // a continuation byte: look further back
    const int n = lead_length(c);
    return n > static_cast<int>(back) ? i : s.size();
  }
  return s.size();
}

// ---- TextStream ----

TextStream::TextStream(std::vector<std::string> stops) : stops_(std::move(stops)) {}

std::string TextStream::push(const std::string& bytes, bool* stopped) {
  *stopped = false;
  const size_t old = all_.size();
  all_ += bytes;
  // The earliest stop string that completes now (earlier text had none complete).
  size_t cut = std::string::npos;
  for (const auto& s : stops_) {
    const size_t from = old >= s.size() ? old - s.size() + 1 : 0;
    const size_t at = all_.find(s, from);
    if (at != std::string::npos) cut = std::min(cut, at);
  }
  if (cut != std::string::npos) {
    *stopped = true;
    std::string out = cut > emitted_ ? sanitize_utf8(all_.substr(emitted_, cut - emitted_)) : std::string();
    emitted_ = std::max(emitted_, cut);
    return out;
  }
  // Hold back the longest tail that could begin a stop string, and an unfinished character.
  size_t hold = 0;
  for (const auto& s : stops_)
    for (size_t k = std::min(s.size() - 1, all_.size()); k > hold; --k)
      if (all_.compare(all_.size() - k, k, s, 0, k) == 0) {
        hold = k;
        break;
      }
  size_t safe = all_.size() - hold;
  safe = complete_utf8_prefix(all_.substr(0, safe));
  if (safe <= emitted_) return {};
  std::string out = sanitize_utf8(all_.substr(emitted_, safe - emitted_));
  emitted_ = safe;
  return out;
}

std::string TextStream::finish() {
  if (emitted_ >= all_.size()) return {};
  std::string out = sanitize_utf8(all_.substr(emitted_));
  emitted_ = all_.size();
  return out;
}

// ---- Sequence ----

SequenceUpdate Sequence::take(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lk(mu_);
  cv_.wait_for(lk, timeout, [&] { return done_ || !pending_.ids.empty() || !pending_.text.empty(); });
  SequenceUpdate u = std::move(pending_);
  pending_ = SequenceUpdate{};
  pending_.prompt_tokens = u.prompt_tokens;
  pending_.completion_tokens = u.completion_tokens;
  u.done = done_;
  if (done_) taken_done_ = true;
  return u;
}

SequenceUpdate Sequence::wait_all() {
  SequenceUpdate all;
  for (;;) {
    SequenceUpdate u = take(std::chrono::milliseconds(1000));
    all.text += u.text;
    all.ids.insert(all.ids.end(), u.ids.begin(), u.ids.end());
    for (auto& lp : u.logprobs) all.logprobs.push_back(std::move(lp));
    all.prompt_tokens = u.prompt_tokens;
    all.completion_tokens = u.completion_tokens;
    if (u.done) {
      all.done = true;
      all.finish_reason = u.finish_reason;
      all.error = u.error;
      return all;
    }
  }
}

void Sequence::cancel() {
  std::lock_guard<std::mutex> lk(mu_);
  cancel_ = true;
}

bool Sequence::cancelled() const {
  std::lock_guard<std::mutex> lk(mu_);
  return cancel_;
}

void Sequence::post(const std::string& text, const std::vector<int32_t>& ids, const std::vector<TokenLogprob>& lps) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    pending_.text += text;
    pending_.ids.insert(pending_.ids.end(), ids.begin(), ids.end());
    pending_.logprobs.insert(pending_.logprobs.end(), lps.begin(), lps.end());
  }
  cv_.notify_all();
}

void Sequence::finish(const std::string& reason, const std::string& error) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (done_) return;
    done_ = true;
    pending_.finish_reason = reason;
    pending_.error = error;
  }
  cv_.notify_all();
}

void Sequence::set_counts(int64_t prompt_tokens, int64_t completion_tokens) {
  std::lock_guard<std::mutex> lk(mu_);
  pending_.prompt_tokens = prompt_tokens;
  pending_.completion_tokens = completion_tokens;
}

}  // namespace lm::generate
