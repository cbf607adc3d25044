// Byte-level BPE encode/decode, loaders and savers. A pre-token's merges run on token ids: lowest merge rank
// first, leftmost on ties (HF tokenizers' Word::merge_all order), by a short scan for short words and a heap with
// a linked list for long ones. Results are memoised per thread in a direct-mapped cache (no locks).
#include "lm/tokenize/bpe.h"

#include <algorithm>
#include <atomic>
#include <climits>
#include <functional>
#include <memory>
#include <queue>

#include "lm/core/error.h"
#include "lm/core/file_util.h"
#include "lm/tokenize/hf_files.h"
#include "lm/tokenize/pretokenize.h"
#include "lm/tokenize/unicode.h"

namespace lm {

const std::array<int32_t, 256>& byte_to_unicode() {
  static const std::array<int32_t, 256> table = [] {
    std::array<int32_t, 256> t{};
    int next = 256;
    for (int b = 0; b < 256; ++b) {
      bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      t[b] = printable ? b : next++;
    }
    return t;
  }();
  return table;
}

static const std::array<int16_t, 324>& unicode_to_byte() {
  static const std::array<int16_t, 324> table = [] {
    std::array<int16_t, 324> t{};
    t.fill(-1);
    auto& fwd = byte_to_unicode();
    for (int b = 0; b < 256; ++b) t[fwd[b]] = static_cast<int16_t>(b);
    return t;
  }();
  return table;
}

bool byte_level_decode(std::string_view token, std::string& out) {
  auto& inv = unicode_to_byte();
  for (size_t i = 0; i < token.size();) {
    int len;
    int32_t cp = unicode::decode_utf8(token, i, len);
    if (cp < 0 || cp >= static_cast<int32_t>(inv.size()) || inv[cp] < 0) return false;
    out.push_back(static_cast<char>(inv[cp]));
    i += len;
  }
  return true;
}

std::string byte_level_encode(std::string_view bytes) {
  auto& fwd = byte_to_unicode();
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) unicode::append_utf8(out, fwd[c]);
  return out;
}

void BpeTokenizer::PairMap::build(const std::vector<std::pair<uint64_t, MergeValue>>& items) {
  uint64_t cap = 16;
  while (cap < items.size() * 2 + 1) cap <<= 1;
  keys.assign(cap, kEmpty);
  vals.assign(cap, MergeValue{0, 0});
  mask = cap - 1;
  for (auto& [k, v] : items) {
    uint64_t h = (k * 0x9E3779B97F4A7C15ull) >> 20;
    uint64_t i = h & mask;
    while (keys[i] != kEmpty && keys[i] != k) i = (i + 1) & mask;
    if (keys[i] == k) continue;  // first (lowest-rank) definition wins
    keys[i] = k;
    vals[i] = v;
  }
}

namespace {
std::atomic<uint64_t> g_instance{1};

// Direct-mapped memo of pre-token -> ids, one per thread and tokenizer instance. The slots live in pages of 64
// (4 KiB) made on first use: a thread that encodes a few short texts (a server's request threads, dozens of
// them) holds a page per distinct word, not the full 4 MiB table, while a thread encoding a corpus ends with the
// whole table as before.
struct WordCache {
  static constexpr size_t kSlots = 1 << 16;
  static constexpr size_t kPageSlots = 64;
  static constexpr size_t kMaxKey = 128;
  struct Slot {
    std::string key;
    std::vector<int32_t> ids;
    bool used = false;
  };
  std::vector<std::unique_ptr<Slot[]>> pages{kSlots / kPageSlots};
  Slot& at(size_t h) {
    auto& page = pages[h / kPageSlots];
    if (!page) page = std::make_unique<Slot[]>(kPageSlots);
    return page[h % kPageSlots];
  }
};

WordCache& thread_cache(uint64_t instance) {
  thread_local std::vector<std::pair<uint64_t, std::unique_ptr<WordCache>>> caches;
  for (auto& [id, c] : caches)
    if (id == instance) return *c;
  if (caches.size() >= 4) caches.erase(caches.begin());
  caches.emplace_back(instance, std::make_unique<WordCache>());
  return *caches.back().second;
}
}  // namespace

BpeTokenizer::BpeTokenizer(const std::vector<std::pair<std::string, int32_t>>& vocab,
                           const std::vector<std::pair<std::string, std::string>>& merges, std::vector<AddedToken> added,
                           bool add_prefix_space)
    : add_prefix_space_(add_prefix_space), instance_(g_instance.fetch_add(1)) {
  int32_t max_id = -1;
  for (auto& [tok, id] : vocab) {
    LM_CHECK_AS(ErrorCode::BadFormat, id >= 0 && id < (1 << 30), "token id {} of '{}' out of range, in BPE vocab", id,
                tok);
    max_id = std::max(max_id, id);
  }
  for (auto& a : added) max_id = std::max(max_id, a.id);
  // Sparse ids are allowed, but not so sparse that a hostile file makes us allocate gigabytes.
  LM_CHECK_AS(ErrorCode::BadFormat, max_id < static_cast<int64_t>(4 * (vocab.size() + added.size()) + 1024),
              "token id {} is far beyond the {} tokens, in BPE vocab", max_id, vocab.size() + added.size());
  id_to_bytes_.assign(max_id + 1, {});
  id_to_token_.assign(max_id + 1, {});
  special_.assign(max_id + 1, false);
  token_to_id_.reserve(vocab.size() * 2);
  for (auto& [tok, id] : vocab) {
    std::string bytes;
    LM_CHECK_AS(ErrorCode::BadFormat, byte_level_decode(tok, bytes),
                "token '{}' (id {}) is not in the byte-level alphabet, in BPE vocab", tok, id);
    LM_CHECK_AS(ErrorCode::BadFormat, id_to_token_[id].empty(), "id {} used twice, in BPE vocab", id);
    id_to_bytes_[id] = std::move(bytes);
    id_to_token_[id] = tok;
    token_to_id_.emplace(tok, id);
  }
  auto& fwd = byte_to_unicode();
  for (int b = 0; b < 256; ++b) {
    std::string t;
    unicode::append_utf8(t, fwd[b]);
    auto it = token_to_id_.find(t);
    // A vocabulary trained without the full byte alphabet lacks some bytes; HF's BPE (no unk token) drops them.
    byte_id_[b] = it == token_to_id_.end() ? -1 : it->second;
    if (byte_id_[b] < 0) all_bytes_ = false;
  }
  std::vector<std::pair<uint64_t, MergeValue>> items;
  items.reserve(merges.size());
  merge_list_.reserve(merges.size());
  for (size_t r = 0; r < merges.size(); ++r) {
    auto& [a, b] = merges[r];
    auto ia = token_to_id_.find(a), ib = token_to_id_.find(b), iab = token_to_id_.find(a + b);
    LM_CHECK_AS(ErrorCode::BadFormat, ia != token_to_id_.end() && ib != token_to_id_.end(),
                "merge {} '{} {}' uses a token not in the vocab, in BPE merges", r + 1, a, b);
    LM_CHECK_AS(ErrorCode::BadFormat, iab != token_to_id_.end(),
                "merge {} '{} {}' makes a token not in the vocab, in BPE merges", r + 1, a, b);
    uint64_t key = (static_cast<uint64_t>(ia->second) << 32) | static_cast<uint32_t>(ib->second);
    items.push_back({key, MergeValue{static_cast<int32_t>(r), iab->second}});
    merge_list_.push_back({ia->second, ib->second});
  }
  merges_.build(items);
  auto eot = token_to_id_.find("<|endoftext|>");
  if (eot != token_to_id_.end()) {
    bool listed = std::any_of(added.begin(), added.end(), [](auto& t) { return t.content == "<|endoftext|>"; });
    if (!listed) added.push_back(AddedToken{"<|endoftext|>", eot->second, true, false, false, false});
  }
  for (auto& a : added) {
    LM_CHECK_AS(ErrorCode::BadFormat, a.id >= 0, "added token '{}' has no id, in BPE tokenizer", a.content);
    if (id_to_token_[a.id].empty()) id_to_bytes_[a.id] = a.content;
    special_[a.id] = a.special;
    if (a.content == "<|endoftext|>") eos_id_ = a.id;
  }
  added_ = AddedTokenMatcher(std::move(added));
}

std::unique_ptr<BpeTokenizer> BpeTokenizer::with_added_tokens(const std::vector<std::string>& contents) const {
  std::vector<std::pair<std::string, int32_t>> vocab;
  for (size_t id = 0; id < id_to_token_.size(); ++id)
    if (!id_to_token_[id].empty()) vocab.emplace_back(id_to_token_[id], static_cast<int32_t>(id));
  std::vector<std::pair<std::string, std::string>> merges;
  merges.reserve(merge_list_.size());
  for (auto& [a, b] : merge_list_) merges.emplace_back(id_to_token_[a], id_to_token_[b]);
  std::vector<AddedToken> added = added_.tokens();
  int32_t next = static_cast<int32_t>(vocab_size());
  for (const std::string& c : contents) {
    LM_CHECK(!c.empty(), "an added token cannot be empty");
    if (token_to_id(c)) continue;
    added.push_back(AddedToken{c, next++, true, false, false, false});
  }
  return std::make_unique<BpeTokenizer>(vocab, merges, std::move(added), add_prefix_space_);
}

std::optional<int32_t> BpeTokenizer::token_to_id(std::string_view token) const {
  auto it = token_to_id_.find(std::string(token));
  if (it != token_to_id_.end()) return it->second;
  for (auto& a : added_.tokens())
    if (a.content == token) return a.id;
  return std::nullopt;
}

std::string BpeTokenizer::id_to_token(int32_t id) const {
  LM_CHECK(id >= 0 && id < vocab_size(), "token id {} out of range [0, {})", id, vocab_size());
  return id_to_token_[id].empty() ? id_to_bytes_[id] : id_to_token_[id];
}

const std::string& BpeTokenizer::id_to_bytes(int32_t id) const {
  LM_CHECK(id >= 0 && id < vocab_size(), "token id {} out of range [0, {})", id, vocab_size());
  return id_to_bytes_[id];
}

bool BpeTokenizer::is_special(int32_t id) const { return id >= 0 && id < vocab_size() && special_[id]; }

void BpeTokenizer::bpe_word(std::string_view bytes, std::vector<int32_t>& out, bool use_heap) const {
  if (!all_bytes_) {
    std::string kept;
    for (char c : bytes)
      if (byte_id_[static_cast<unsigned char>(c)] >= 0) kept.push_back(c);
    if (kept.size() != bytes.size()) {
      if (!kept.empty()) bpe_word_all(kept, out, use_heap);
      return;
    }
  }
  bpe_word_all(bytes, out, use_heap);
}

void BpeTokenizer::bpe_word_all(std::string_view bytes, std::vector<int32_t>& out, bool use_heap) const {
  const size_t n = bytes.size();
  if (n == 0) return;
  if (n == 1) {
    out.push_back(byte_id_[static_cast<unsigned char>(bytes[0])]);
    return;
  }
  if (!use_heap) {
    // Short words: ids[] and the rank of each adjacent pair; merge the lowest (leftmost) until none is left.
    thread_local std::vector<int32_t> ids, ranks, made;
    ids.resize(n);
    ranks.resize(n);
    made.resize(n);
    for (size_t i = 0; i < n; ++i) ids[i] = byte_id_[static_cast<unsigned char>(bytes[i])];
    size_t m = n;
    auto rank_at = [&](size_t i) {
      const MergeValue* v = find_merge(ids[i], ids[i + 1]);
      ranks[i] = v ? v->rank : INT_MAX;
      made[i] = v ? v->id : -1;
    };
    for (size_t i = 0; i + 1 < m; ++i) rank_at(i);
    while (m > 1) {
      size_t best = 0;
      for (size_t i = 1; i + 1 < m; ++i)
        if (ranks[i] < ranks[best]) best = i;
      if (ranks[best] == INT_MAX) break;
      ids[best] = made[best];
      for (size_t i = best + 1; i + 1 < m; ++i) {
        ids[i] = ids[i + 1];
        ranks[i] = ranks[i + 1];
        made[i] = made[i + 1];
      }
      --m;
      if (best + 1 < m) rank_at(best);
      if (best > 0) rank_at(best - 1);
    }
    out.insert(out.end(), ids.begin(), ids.begin() + m);
    return;
  }
  // Long words: linked list of symbols and a min-heap of (rank, position) with lazy invalidation.
  struct Sym {
    int32_t id;
    int32_t prev, next;
    bool alive;
  };
  std::vector<Sym> syms(n);
  for (size_t i = 0; i < n; ++i)
    syms[i] = Sym{byte_id_[static_cast<unsigned char>(bytes[i])], static_cast<int32_t>(i) - 1,
                  i + 1 < n ? static_cast<int32_t>(i + 1) : -1, true};
  struct Item {
    int32_t rank, pos, made;
    bool operator>(const Item& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::priority_queue<Item, std::vector<Item>, std::greater<Item>> heap;
  auto push = [&](int32_t pos) {
    int32_t nx = syms[pos].next;
    if (nx < 0) return;
    if (const MergeValue* v = find_merge(syms[pos].id, syms[nx].id)) heap.push(Item{v->rank, pos, v->id});
  };
  for (size_t i = 0; i + 1 < n; ++i) push(static_cast<int32_t>(i));
  while (!heap.empty()) {
    Item top = heap.top();
    heap.pop();
    Sym& s = syms[top.pos];
    if (!s.alive || s.next < 0) continue;
    const MergeValue* v = find_merge(s.id, syms[s.next].id);
    if (!v || v->id != top.made) continue;
    Sym& right = syms[s.next];
    s.id = top.made;
    right.alive = false;
    s.next = right.next;
    if (s.next >= 0) syms[s.next].prev = top.pos;
    if (s.prev >= 0) push(s.prev);
    push(top.pos);
  }
  for (int32_t i = 0; i >= 0; i = syms[i].next) out.push_back(syms[i].id);
}

void BpeTokenizer::encode_piece(std::string_view piece, std::vector<int32_t>& ids) const {
  if (piece.size() == 1 && all_bytes_) {
    ids.push_back(byte_id_[static_cast<unsigned char>(piece[0])]);
    return;
  }
  if (piece.size() > WordCache::kMaxKey) {
    bpe_word(piece, ids, piece.size() > 64);
    return;
  }
  WordCache& cache = thread_cache(instance_);
  size_t h = std::hash<std::string_view>()(piece) & (WordCache::kSlots - 1);
  auto& slot = cache.at(h);
  if (slot.used && slot.key == piece) {
    ids.insert(ids.end(), slot.ids.begin(), slot.ids.end());
    return;
  }
  size_t before = ids.size();
  bpe_word(piece, ids, piece.size() > 64);
  slot.used = true;
  slot.key.assign(piece);
  slot.ids.assign(ids.begin() + before, ids.end());
}

void BpeTokenizer::encode_into(std::string_view text, std::vector<int32_t>& ids, TokenOffsets* offsets,
                               bool parse_added) const {
  auto plain = [&](size_t b, size_t e) {
    std::string_view seg = text.substr(b, e - b);
    std::string prefixed;
    int64_t shift = static_cast<int64_t>(b);
    if (add_prefix_space_) {
      int len;
      int32_t cp = unicode::decode_utf8(seg, 0, len);
      if (cp == unicode::kInvalidCodepoint || !unicode::is_white_space(cp)) {
        prefixed = " " + std::string(seg);
        seg = prefixed;
        shift -= 1;
      }
    }
    gpt2_pretokenize(seg, [&](size_t pb, size_t pe) {
      size_t before = ids.size();
      encode_piece(seg.substr(pb, pe - pb), ids);
      if (offsets) {
        int64_t pos = static_cast<int64_t>(pb) + shift;
        for (size_t k = before; k < ids.size(); ++k) {
          int64_t len = static_cast<int64_t>(id_to_bytes_[ids[k]].size());
          offsets->push_back({std::max<int64_t>(pos, static_cast<int64_t>(b)), pos + len});
          pos += len;
        }
      }
    });
  };
  auto token = [&](int32_t id, size_t b, size_t e) {
    ids.push_back(id);
    if (offsets) offsets->push_back({static_cast<int64_t>(b), static_cast<int64_t>(e)});
  };
  if (!parse_added) {
    if (!text.empty()) plain(0, text.size());
    return;
  }
  added_.split(text, plain, token);
}

std::vector<int32_t> BpeTokenizer::encode_text_only(std::string_view text) const {
  std::vector<int32_t> ids;
  encode_into(text, ids, nullptr, false);
  return ids;
}

std::vector<int32_t> BpeTokenizer::encode(std::string_view text, bool /*add_special_tokens*/) const {
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  encode_into(text, ids);
  return ids;
}

std::string BpeTokenizer::decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const {
  std::string out;
  for (int32_t id : ids) {
    LM_CHECK(id >= 0 && id < vocab_size(), "token id {} out of range [0, {}), in decode", id, vocab_size());
    if (skip_special_tokens && special_[id]) continue;
    out += id_to_bytes_[id];
  }
  return out;
}

// ---- loading ----

static std::vector<std::pair<std::string, int32_t>> vocab_from_json(const Json& j, const std::string& where) {
  LM_CHECK_AS(ErrorCode::BadFormat, j.is_object(), "vocab is not a JSON object, in {}", where);
  std::vector<std::pair<std::string, int32_t>> v;
  v.reserve(j.size());
  for (auto it = j.begin(); it != j.end(); ++it) {
    LM_CHECK_AS(ErrorCode::BadFormat, it.value().is_number_integer(), "id of '{}' is not an integer, in {}", it.key(),
                where);
    int64_t id = it.value().get<int64_t>();
    LM_CHECK_AS(ErrorCode::BadFormat, id >= 0 && id < (1 << 30), "id {} of '{}' out of range, in {}", id, it.key(),
                where);
    v.emplace_back(it.key(), static_cast<int32_t>(id));
  }
  return v;
}

static std::pair<std::string, std::string> split_merge(std::string_view line, size_t lineno,
                                                       const std::string& where) {
  size_t sp = line.find(' ');
  LM_CHECK_AS(ErrorCode::BadFormat, sp != std::string_view::npos && sp > 0 && sp + 1 < line.size() &&
                                        line.find(' ', sp + 1) == std::string_view::npos,
              "line {} is not 'a b', in {}", lineno, where);
  return {std::string(line.substr(0, sp)), std::string(line.substr(sp + 1))};
}

std::unique_ptr<BpeTokenizer> BpeTokenizer::from_files(const std::string& vocab_path, const std::string& merges_path,
                                                      std::vector<AddedToken> added) {
  auto vocab = vocab_from_json(read_json_file(vocab_path), vocab_path);
  std::string text = read_file(merges_path);
  std::vector<std::pair<std::string, std::string>> merges;
  size_t pos = 0, lineno = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    std::string_view line(text.data() + pos, nl - pos);
    pos = nl + 1;
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || (lineno == 1 && line.rfind("#version", 0) == 0)) continue;
    merges.push_back(split_merge(line, lineno, merges_path));
  }
  return std::make_unique<BpeTokenizer>(vocab, merges, std::move(added));
}

std::unique_ptr<BpeTokenizer> BpeTokenizer::from_tokenizer_json(const Json& j, const std::string& where) {
  const Json& model = j.at("model");
  LM_CHECK_AS(ErrorCode::Unsupported, model.value("type", std::string("BPE")) == "BPE",
              "model type is not BPE, in {}", where);
  bool byte_level = false, add_prefix_space = false;
  std::function<void(const Json&)> visit = [&](const Json& p) {
    if (!p.is_object()) return;
    std::string t = p.value("type", std::string());
    if (t == "ByteLevel") {
      byte_level = true;
      add_prefix_space = p.value("add_prefix_space", false);
      LM_CHECK_AS(ErrorCode::Unsupported, p.value("use_regex", true), "ByteLevel without regex, in {}", where);
    } else if (t == "Sequence") {
      for (auto& q : p.at("pretokenizers")) visit(q);
    } else {
      LM_THROW(ErrorCode::Unsupported, "pre-tokenizer '{}' (only GPT-2 ByteLevel BPE is supported), in {}", t, where);
    }
  };
  if (j.contains("pre_tokenizer")) visit(j["pre_tokenizer"]);
  LM_CHECK_AS(ErrorCode::Unsupported, byte_level, "BPE tokenizer without a ByteLevel pre-tokenizer, in {}", where);
  if (j.contains("normalizer") && !j["normalizer"].is_null())
    LM_THROW(ErrorCode::Unsupported, "BPE with a normalizer, in {}", where);
  auto vocab = vocab_from_json(model.at("vocab"), where + " model.vocab");
  std::vector<std::pair<std::string, std::string>> merges;
  size_t k = 0;
  for (auto& m : model.at("merges")) {
    ++k;
    if (m.is_string()) {
      merges.push_back(split_merge(m.get<std::string>(), k, where + " model.merges"));
    } else {
      LM_CHECK_AS(ErrorCode::BadFormat, m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string(),
                  "merge {} is not a pair of strings, in {}", k, where);
      merges.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
    }
  }
  std::vector<AddedToken> added;
  if (j.contains("added_tokens")) added = parse_added_tokens(j["added_tokens"], where);
  return std::make_unique<BpeTokenizer>(vocab, merges, std::move(added), add_prefix_space);
}

// ---- saving ----

static std::string json_str(const std::string& s) { return Json(s).dump(); }

static std::string vocab_json_text(const std::vector<std::string>& id_to_token) {
  std::string out = "{";
  bool first = true;
  for (size_t id = 0; id < id_to_token.size(); ++id) {
    if (id_to_token[id].empty()) continue;
    if (!first) out += ",";
    first = false;
    out += json_str(id_to_token[id]) + ":" + std::to_string(id);
  }
  return out + "}";
}

// As transformers' GPT2Converter builds it (and the Hub's gpt2 tokenizer.json): ByteLevel pre-tokenizer with the
// GPT-2 regex, ByteLevel post-processor (offsets only; adds no ids) and decoder, BPE without unk/dropout.
// Merges are written as "a b" strings, which every tokenizers release reads (pairs need >= 0.20).
std::string BpeTokenizer::to_tokenizer_json() const {
  auto byte_level = [](bool prefix, bool trim) {
    return std::string("{\"type\":\"ByteLevel\",\"add_prefix_space\":") + (prefix ? "true" : "false") +
           ",\"trim_offsets\":" + (trim ? "true" : "false") + ",\"use_regex\":true}";
  };
  std::string out = "{\"version\":\"1.0\",\"truncation\":null,\"padding\":null,\"added_tokens\":" +
                    added_tokens_json(added_.tokens()) + ",\"normalizer\":null,\"pre_tokenizer\":" +
                    byte_level(add_prefix_space_, true) + ",\"post_processor\":" + byte_level(true, false) +
                    ",\"decoder\":" + byte_level(true, true) +
                    ",\"model\":{\"type\":\"BPE\",\"dropout\":null,\"unk_token\":null,"
                    "\"continuing_subword_prefix\":\"\",\"end_of_word_suffix\":\"\",\"fuse_unk\":false,"
                    "\"byte_fallback\":false,\"ignore_merges\":false,\"vocab\":" +
                    vocab_json_text(id_to_token_) + ",\"merges\":[";
  for (size_t r = 0; r < merge_list_.size(); ++r) {
    if (r) out += ",";
    out += json_str(id_to_token_[merge_list_[r].first] + " " + id_to_token_[merge_list_[r].second]);
  }
  return out + "]}}\n";
}

// GPT2TokenizerFast.save_pretrained's files. <|endoftext|> (when present) is GPT-2's bos, eos and unk token.
void BpeTokenizer::save(const std::string& dir, int64_t model_max_length) const {
  make_dirs(dir);
  write_file_atomic(path_join(dir, "vocab.json"), vocab_json_text(id_to_token_) + "\n");
  std::string merges = "#version: 0.2\n";
  for (auto& [a, b] : merge_list_) merges += id_to_token_[a] + " " + id_to_token_[b] + "\n";
  write_file_atomic(path_join(dir, "merges.txt"), merges);
  write_file_atomic(path_join(dir, "tokenizer.json"), to_tokenizer_json());
  // Tokens past vocab.json (chat tokens added by fine-tuning) for the slow GPT2Tokenizer.
  int64_t base = 0;
  for (size_t id = 0; id < id_to_token_.size(); ++id)
    if (!id_to_token_[id].empty()) base = static_cast<int64_t>(id) + 1;
  write_added_tokens_json(dir, added_.tokens(), base);
  HfTokenizerConfig c;
  c.tokenizer_class = "GPT2Tokenizer";
  c.model_max_length = model_max_length > 0 ? model_max_length : 1024;
  if (eos_id_)
    for (const char* key : {"bos_token", "eos_token", "unk_token"})
      c.special_tokens.emplace_back(key, id_to_bytes_[*eos_id_]);
  c.options = Json{{"add_prefix_space", add_prefix_space_}, {"add_bos_token", false}, {"errors", "replace"}};
  write_hf_tokenizer_config(dir, c, added_.tokens());
}

}  // namespace lm
