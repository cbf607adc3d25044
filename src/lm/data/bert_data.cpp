// BERT pretraining data: sentence splitting, NSP pair creation, dynamic MLM masking and the batch loader.
#include "lm/data/bert_data.h"
#include "lm/data/shard.h"

#include <algorithm>
#include <unordered_set>

#include "lm/core/error.h"
#include "lm/core/rng.h"
#include "lm/core/threads.h"
#include "lm/data/wikitext.h"

namespace lm {
namespace {

bool is_upper_start(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '"' || c == '\'' || c == '(' || c == '[' ||
         c >= 0xC0;  // a non-ASCII letter or quote (UTF-8 lead byte)
}

bool is_abbreviation(std::string_view word) {
  static const std::unordered_set<std::string> k = {
      "mr",  "mrs", "ms",   "dr",     "prof", "st",   "jr",   "sr",   "vs",   "etc", "e.g",   "i.e",  "no",
      "nos", "fig", "figs", "approx", "est",  "inc",  "ltd",  "co",   "corp", "gen", "col",   "lt",   "sgt",
      "rev", "gov", "sen",  "rep",    "u.s",  "mt",   "ft",   "op",   "cit",  "vol", "vols",  "pp",   "ca",
      "c",   "cf",  "al",   "jan",    "feb",  "mar",  "apr",  "jun",  "jul",  "aug", "sep",   "sept", "oct",
      "nov", "dec", "u.k",  "a.d",    "b.c",  "ph.d", "capt", "cmdr", "adm",  "maj", "messrs"};
  // A single capital letter is an initial ("J. R. R. Tolkien").
  if (word.size() == 1 && word[0] >= 'A' && word[0] <= 'Z') return true;
  std::string w(word);
  for (char& c : w) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return k.count(w) > 0;
}

void push_trimmed(std::vector<std::string>& out, std::string_view s) {
  size_t b = s.find_first_not_of(" \t\r");
  if (b == std::string_view::npos) return;
  size_t e = s.find_last_not_of(" \t\r");
  out.emplace_back(s.substr(b, e - b + 1));
}

void split_line(std::string_view line, std::vector<std::string>& out) {
  size_t start = 0;
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (c != '.' && c != '!' && c != '?') continue;
    size_t j = i + 1;
    // Closing quotes and brackets stay with the sentence (ASCII and the UTF-8 right quotes ’ ”).
    for (;;) {
      if (j < line.size() && (line[j] == '"' || line[j] == '\'' || line[j] == ')' || line[j] == ']')) {
        ++j;
      } else if (j + 2 < line.size() && static_cast<unsigned char>(line[j]) == 0xE2 &&
                 static_cast<unsigned char>(line[j + 1]) == 0x80 &&
                 (static_cast<unsigned char>(line[j + 2]) == 0x99 ||
                  static_cast<unsigned char>(line[j + 2]) == 0x9D)) {
        j += 3;
      } else {
        break;
      }
    }
    if (j >= line.size() || (line[j] != ' ' && line[j] != '\t')) continue;
    size_t k = j;
    while (k < line.size() && (line[k] == ' ' || line[k] == '\t')) ++k;
    if (k >= line.size() || !is_upper_start(static_cast<unsigned char>(line[k]))) continue;
    if (c == '.') {
      size_t w = i;
      while (w > start && line[w - 1] != ' ' && line[w - 1] != '(' && line[w - 1] != '"') --w;
      if (is_abbreviation(line.substr(w, i - w))) continue;
    }
    push_trimmed(out, line.substr(start, j - start));
    start = k;
    i = k - 1;
  }
  push_trimmed(out, line.substr(start));
}

void truncate_pair(std::vector<int32_t>& a, std::vector<int32_t>& b, size_t max_tokens, Rng& rng) {
  while (a.size() + b.size() > max_tokens) {
    auto& t = a.size() > b.size() ? a : b;
    if (rng.next_uniform() < 0.5f)
      t.erase(t.begin());
    else
      t.pop_back();
  }
}

// Uniform integer in [lo, hi].
int64_t randint(Rng& rng, int64_t lo, int64_t hi) {
  return lo + static_cast<int64_t>(rng.next_below(static_cast<uint64_t>(hi - lo + 1)));
}

}  // namespace

std::vector<std::string> split_sentences(std::string_view text) {
  std::vector<std::string> out;
  size_t p = 0;
  while (p <= text.size()) {
    size_t e = text.find('\n', p);
    if (e == std::string_view::npos) e = text.size();
    split_line(text.substr(p, e - p), out);
    p = e + 1;
  }
  return out;
}

TokenizedDocument tokenize_document(const Tokenizer& tok, std::string_view text) {
  TokenizedDocument doc;
  for (const auto& s : split_sentences(text)) {
    auto ids = tok.encode(s, false);
    if (!ids.empty()) doc.push_back(std::move(ids));
  }
  return doc;
}

std::vector<TokenizedDocument> read_sentence_documents(const std::vector<std::string>& shard_paths, int32_t sep,
                                                       int64_t vocab_size) {
  std::vector<TokenizedDocument> docs;
  for (const auto& path : shard_paths) {
    Shard shard(path);
    LM_CHECK_AS(ErrorCode::BadFormat, shard.header().eos_id == sep,
                "{}: separator id {} in the shard header, expected {} (was it prepared with --layout sentences "
                "and the same tokenizer?)",
                path, shard.header().eos_id, sep);
    std::vector<int32_t> ids(static_cast<size_t>(shard.size()));
    if (!ids.empty()) shard.read(0, shard.size(), ids.data());
    TokenizedDocument doc;
    std::vector<int32_t> sentence;
    for (size_t i = 0; i < ids.size(); ++i) {
      const int32_t t = ids[i];
      LM_CHECK_AS(ErrorCode::BadFormat, t >= 0 && t < vocab_size, "{}: token {} at position {} is outside the "
                  "vocabulary of {}", path, t, i, vocab_size);
      if (t != sep) {
        sentence.push_back(t);
      } else if (!sentence.empty()) {
        doc.push_back(std::move(sentence));
        sentence.clear();
      } else if (!doc.empty()) {  // a second separator: the document ends
        docs.push_back(std::move(doc));
        doc.clear();
      }
    }
    if (!sentence.empty()) doc.push_back(std::move(sentence));
    if (!doc.empty()) docs.push_back(std::move(doc));
  }
  return docs;
}

std::vector<TokenizedDocument> load_bert_documents(const std::vector<std::string>& inputs,
                                                   const Tokenizer& tok, InputFormat format, TextSplit split,
                                                   int threads, int64_t max_documents) {
  std::vector<std::string> files = expand_inputs(inputs);
  std::vector<InputFormat> formats(files.size(), format);
  std::vector<TokenizedDocument> out;
  std::vector<SourceDocument> batch;
  size_t batch_bytes = 0;
  int64_t seen = 0;
  auto flush = [&]() {
    std::vector<TokenizedDocument> docs(batch.size());
    parallel_for(
        static_cast<int64_t>(batch.size()),
        [&](int64_t b, int64_t e, int) {
          for (int64_t i = b; i < e; ++i) {
            const SourceDocument& d = batch[static_cast<size_t>(i)];
            docs[static_cast<size_t>(i)] =
                tokenize_document(tok, d.wikitext ? clean_wikitext(d.text) : d.text);
          }
        },
        threads);
    for (auto& d : docs)
      if (!d.empty()) out.push_back(std::move(d));
    batch.clear();
    batch_bytes = 0;
  };
  for_each_source_document(files, formats, split, false, [&](SourceDocument&& d, const SourceProgress&) {
    batch_bytes += d.text.size();
    batch.push_back(std::move(d));
    if (batch_bytes >= (8u << 20) || batch.size() >= 4096) flush();
    return max_documents < 0 || ++seen < max_documents;
  });
  flush();
  return out;
}

std::vector<NspExample> create_nsp_examples(const std::vector<TokenizedDocument>& docs,
                                            const NspConfig& cfg) {
  LM_CHECK(cfg.max_seq_len >= 5, "max_seq_len {} too small for [CLS] A [SEP] B [SEP]", cfg.max_seq_len);
  const int64_t max_tokens = cfg.max_seq_len - 3;
  Rng rng(cfg.seed, 0x4E5350);  // "NSP"
  std::vector<NspExample> out;
  std::vector<size_t> nonempty;
  for (size_t d = 0; d < docs.size(); ++d)
    if (!docs[d].empty()) nonempty.push_back(d);
  for (size_t d = 0; d < docs.size(); ++d) {
    const auto& doc = docs[d];
    int64_t target = max_tokens;
    if (rng.next_uniform() < cfg.short_seq_prob) target = randint(rng, 2, max_tokens);
    std::vector<const std::vector<int32_t>*> chunk;
    int64_t chunk_len = 0;
    for (int64_t i = 0; i < static_cast<int64_t>(doc.size()); ++i) {
      chunk.push_back(&doc[static_cast<size_t>(i)]);
      chunk_len += static_cast<int64_t>(doc[static_cast<size_t>(i)].size());
      if (i + 1 != static_cast<int64_t>(doc.size()) && chunk_len < target) continue;
      int64_t nchunk = static_cast<int64_t>(chunk.size());
      int64_t a_end = nchunk >= 2 ? randint(rng, 1, nchunk - 1) : 1;
      NspExample ex;
      for (int64_t k = 0; k < a_end; ++k) ex.a.insert(ex.a.end(), chunk[k]->begin(), chunk[k]->end());
      bool random_next = nchunk == 1 || rng.next_uniform() < cfg.random_next_prob;
      if (random_next && nonempty.size() < 2) random_next = false;  // no other document to draw from
      if (random_next) {
        ex.next_sentence_label = 1;
        int64_t target_b = std::max<int64_t>(1, target - static_cast<int64_t>(ex.a.size()));
        size_t other = d;
        for (int tries = 0; tries < 10 && other == d; ++tries)
          other = nonempty[rng.next_below(nonempty.size())];
        if (other == d) other = nonempty[0] == d ? nonempty[1] : nonempty[0];
        const auto& od = docs[other];
        size_t start = rng.next_below(od.size());
        for (size_t k = start; k < od.size(); ++k) {
          ex.b.insert(ex.b.end(), od[k].begin(), od[k].end());
          if (static_cast<int64_t>(ex.b.size()) >= target_b) break;
        }
        i -= nchunk - a_end;  // the unused sentences start the next chunk
      } else {
        for (int64_t k = a_end; k < nchunk; ++k) ex.b.insert(ex.b.end(), chunk[k]->begin(), chunk[k]->end());
      }
      truncate_pair(ex.a, ex.b, static_cast<size_t>(max_tokens), rng);
      if (!ex.a.empty() && !ex.b.empty()) out.push_back(std::move(ex));
      chunk.clear();
      chunk_len = 0;
    }
  }
  return out;
}

BertSpecialTokens bert_special_tokens(const Tokenizer& tok) {
  BertSpecialTokens sp;
  auto get = [&](const char* t) {
    auto id = tok.token_to_id(t);
    LM_CHECK_AS(ErrorCode::NotFound, id.has_value(),
                "tokenizer has no {} token (BERT pretraining needs a WordPiece "
                "vocabulary with [CLS] [SEP] [MASK] [PAD])",
                t);
    return *id;
  };
  sp.cls = get("[CLS]");
  sp.sep = get("[SEP]");
  sp.mask = get("[MASK]");
  sp.pad = get("[PAD]");
  sp.vocab_size = tok.vocab_size();
  return sp;
}

std::vector<uint8_t> wordpiece_continuations(const Tokenizer& tok) {
  std::vector<uint8_t> c(static_cast<size_t>(tok.vocab_size()), 0);
  for (int64_t i = 0; i < tok.vocab_size(); ++i) {
    std::string s = tok.decode({static_cast<int32_t>(i)});
    c[static_cast<size_t>(i)] = s.size() > 2 && s[0] == '#' && s[1] == '#';
  }
  return c;
}

void mask_sequence(int32_t* ids, int32_t* labels, int64_t len, const BertSpecialTokens& sp,
                   const MaskConfig& mc, const std::vector<uint8_t>* continuation, uint64_t seed,
                   uint64_t stream) {
  Rng rng(seed, stream);
  auto is_special = [&](int32_t t) { return t == sp.cls || t == sp.sep || t == sp.pad; };
  std::vector<uint8_t> selected(static_cast<size_t>(len), 0);
  if (!mc.whole_word) {
    for (int64_t i = 0; i < len; ++i)
      selected[static_cast<size_t>(i)] = !is_special(ids[i]) && rng.next_uniform() < mc.mlm_probability;
  } else {
    // Words: a token plus the following "##" continuations; pick shuffled words until ~15% of tokens.
    std::vector<std::pair<int64_t, int64_t>> words;
    int64_t candidates = 0;
    for (int64_t i = 0; i < len; ++i) {
      if (is_special(ids[i])) continue;
      ++candidates;
      bool cont = continuation && ids[i] >= 0 && static_cast<size_t>(ids[i]) < continuation->size() &&
                  (*continuation)[static_cast<size_t>(ids[i])];
      if (cont && !words.empty() && words.back().second == i)
        words.back().second = i + 1;
      else
        words.emplace_back(i, i + 1);
    }
    for (size_t i = words.size(); i > 1; --i) std::swap(words[i - 1], words[rng.next_below(i)]);
    int64_t want = std::max<int64_t>(1, std::llround(static_cast<double>(candidates) * mc.mlm_probability));
    int64_t covered = 0;
    for (auto [b, e] : words) {
      if (covered >= want) break;
      if (covered + (e - b) > want) continue;
      for (int64_t i = b; i < e; ++i) selected[static_cast<size_t>(i)] = 1;
      covered += e - b;
    }
  }
  for (int64_t i = 0; i < len; ++i) {
    if (!selected[static_cast<size_t>(i)]) {
      labels[i] = -100;
      continue;
    }
    labels[i] = ids[i];
    float u = rng.next_uniform();
    if (u < mc.mask_fraction)
      ids[i] = sp.mask;
    else if (u < mc.mask_fraction + mc.random_fraction)
      ids[i] = static_cast<int32_t>(rng.next_below(static_cast<uint64_t>(sp.vocab_size)));
  }
}

BertLoader::BertLoader(std::vector<NspExample> examples, const BertSpecialTokens& sp, const MaskConfig& mc,
                       const GptLoaderConfig& cfg, std::vector<uint8_t> continuation)
    : examples_(std::move(examples)), sp_(sp), mc_(mc), cfg_(cfg), continuation_(std::move(continuation)) {
  LM_CHECK(cfg.batch_size > 0 && cfg.seq_len >= 5, "bad batch_size {} / seq_len {}", cfg.batch_size,
           cfg.seq_len);
  LM_CHECK(cfg.world_size > 0 && cfg.rank >= 0 && cfg.rank < cfg.world_size, "bad rank {} for world size {}",
           cfg.rank, cfg.world_size);
  for (const auto& ex : examples_)
    LM_CHECK(static_cast<int64_t>(ex.a.size() + ex.b.size()) + 3 <= cfg.seq_len,
             "example of {} tokens does not fit seq_len {}", ex.a.size() + ex.b.size() + 3, cfg.seq_len);
  LM_CHECK(!mc.whole_word || !continuation_.empty(),
           "whole-word masking needs the tokenizer's continuation flags");
  LM_CHECK(batches_per_epoch() > 0, "{} examples are fewer than one batch of {} x {} rank(s)",
           examples_.size(), cfg.batch_size, cfg.world_size);
}

uint64_t BertLoader::batches_per_epoch() const {
  return examples_.size() / (static_cast<uint64_t>(cfg_.batch_size) * static_cast<uint64_t>(cfg_.world_size));
}

void BertLoader::set_cursor(const LoaderCursor& c) {
  LM_CHECK(c.step <= batches_per_epoch(), "cursor step {} beyond the {} batches of an epoch", c.step,
           batches_per_epoch());
  cursor_ = c;
}

void BertLoader::next(BertBatch& out) {
  if (cursor_.step >= batches_per_epoch()) cursor_ = {cursor_.epoch + 1, 0};
  const int64_t B = cfg_.batch_size, T = cfg_.seq_len;
  out.B = B;
  out.T = T;
  size_t bt = static_cast<size_t>(B * T);
  out.input_ids.assign(bt, sp_.pad);
  out.token_type_ids.assign(bt, 0);
  out.attention_mask.assign(bt, 0);
  out.labels.assign(bt, -100);
  out.next_sentence_label.assign(static_cast<size_t>(B), 0);
  uint64_t n = examples_.size();
  uint64_t first =
      (cursor_.step * static_cast<uint64_t>(cfg_.world_size) + static_cast<uint64_t>(cfg_.rank)) *
      static_cast<uint64_t>(B);
  for (int64_t b = 0; b < B; ++b) {
    uint64_t e = first + static_cast<uint64_t>(b);
    if (cfg_.shuffle) e = permute_index(e, n, cfg_.seed, cursor_.epoch);
    const NspExample& ex = examples_[e];
    int32_t* ids = out.input_ids.data() + b * T;
    int32_t* tt = out.token_type_ids.data() + b * T;
    int64_t p = 0;
    ids[p++] = sp_.cls;
    for (int32_t t : ex.a) ids[p++] = t;
    ids[p++] = sp_.sep;
    int64_t b_start = p;
    for (int32_t t : ex.b) ids[p++] = t;
    ids[p++] = sp_.sep;
    for (int64_t i = b_start; i < p; ++i) tt[i] = 1;
    for (int64_t i = 0; i < p; ++i) out.attention_mask[static_cast<size_t>(b * T + i)] = 1;
    out.next_sentence_label[static_cast<size_t>(b)] = ex.next_sentence_label;
    // Dynamic masking: a fresh mask per (epoch, example).
    mask_sequence(ids, out.labels.data() + b * T, p, sp_, mc_,
                  continuation_.empty() ? nullptr : &continuation_, cfg_.seed ^ 0x6D61736BULL,
                  cursor_.epoch * n + e);
  }
  ++cursor_.step;
}

}  // namespace lm
