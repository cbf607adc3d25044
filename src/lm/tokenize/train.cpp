// Trainers. Words are counted per thread over line batches and merged; train_bpe_words keeps pair counts, the
// words each pair occurs in, and a max-heap with lazy count refresh, as HF's BpeTrainer does.
#include "lm/tokenize/train.h"

#include <algorithm>
#include <map>
#include <queue>
#include <unordered_set>

#include "lm/core/error.h"
#include "lm/core/file_util.h"
#include "lm/core/threads.h"
#include "lm/tokenize/pretokenize.h"
#include "lm/tokenize/unicode.h"

namespace lm {

namespace {

using WordCounts = std::unordered_map<std::string, int64_t>;

// Lines of a file, each with its "\n" (the last one may lack it).
std::vector<std::string_view> lines_with_endings(const std::string& text) {
  std::vector<std::string_view> lines;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    size_t end = nl == std::string::npos ? text.size() : nl + 1;
    lines.emplace_back(text.data() + pos, end - pos);
    pos = end;
  }
  return lines;
}

template <class WordsOf>
WordCounts count_words(const std::vector<std::string>& files, WordsOf&& words_of) {
  WordCounts total;
  for (auto& f : files) {
    std::string text = read_file(f);
    auto lines = lines_with_endings(text);
    int nt = std::max(1, num_threads());
    std::vector<WordCounts> partial(nt);
    parallel_for(
        static_cast<int64_t>(lines.size()),
        [&](int64_t b, int64_t e, int w) {
          for (int64_t i = b; i < e; ++i) words_of(lines[i], [&](std::string&& word) { ++partial[w][word]; });
        },
        nt);
    for (auto& p : partial)
      for (auto& [k, v] : p) total[k] += v;
  }
  return total;
}

std::vector<int32_t> codepoints(std::string_view s) {
  std::vector<int32_t> out;
  for (size_t i = 0; i < s.size();) {
    int len;
    int32_t cp = unicode::decode_utf8(s, i, len);
    out.push_back(cp == unicode::kInvalidCodepoint ? 0xFFFD : cp);
    i += len;
  }
  return out;
}

std::string utf8_of(int32_t cp) {
  std::string s;
  unicode::append_utf8(s, cp);
  return s;
}

uint64_t pair_key(int32_t a, int32_t b) { return (static_cast<uint64_t>(a) << 32) | static_cast<uint32_t>(b); }

}  // namespace

BpeTrainResult train_bpe_words(const WordCounts& word_counts, const BpeTrainOptions& opt) {
  BpeTrainResult res;
  std::unordered_map<std::string, int32_t> w2id;
  auto add = [&](const std::string& s) {
    if (w2id.count(s)) return;
    w2id.emplace(s, static_cast<int32_t>(res.vocab.size()));
    res.vocab.push_back(s);
  };
  for (auto& s : opt.special_tokens) add(s);
  // Deterministic word order (HF iterates a hash map; only ids of "##" pieces depend on it).
  std::vector<std::pair<std::string, int64_t>> words(word_counts.begin(), word_counts.end());
  std::sort(words.begin(), words.end());
  // Alphabet: every character seen (weighted by count), plus the byte alphabet; limited to the most frequent.
  std::map<int32_t, int64_t> alphabet;
  for (auto& [w, c] : words)
    for (int32_t cp : codepoints(w)) alphabet[cp] += c;
  if (opt.byte_alphabet)
    for (int b = 0; b < 256; ++b) alphabet[byte_to_unicode()[b]] = std::numeric_limits<int64_t>::max();
  std::vector<std::pair<int32_t, int64_t>> kept(alphabet.begin(), alphabet.end());
  if (opt.limit_alphabet > 0 && static_cast<int64_t>(kept.size()) > opt.limit_alphabet) {
    std::stable_sort(kept.begin(), kept.end(), [](auto& x, auto& y) { return x.second < y.second; });
    kept.erase(kept.begin(), kept.end() - opt.limit_alphabet);
    std::sort(kept.begin(), kept.end());
  }
  for (auto& [cp, c] : kept) add(utf8_of(cp));
  // Words as symbol ids (characters outside the alphabet are dropped, as HF does).
  std::vector<std::vector<int32_t>> syms(words.size());
  std::vector<int64_t> counts(words.size());
  for (size_t i = 0; i < words.size(); ++i) {
    counts[i] = words[i].second;
    auto cps = codepoints(words[i].first);
    for (size_t k = 0; k < cps.size(); ++k) {
      std::string s = utf8_of(cps[k]);
      if (!w2id.count(s)) continue;
      if (k > 0 && !opt.prefix.empty()) {
        s = opt.prefix + s;
        add(s);
      }
      syms[i].push_back(w2id[s]);
    }
  }
  // Pair counts and the words each pair occurs in (entries may go stale; merging re-checks the word).
  std::unordered_map<uint64_t, int64_t> pair_counts;
  std::unordered_map<uint64_t, std::unordered_set<int32_t>> occurs;
  for (size_t i = 0; i < syms.size(); ++i)
    for (size_t k = 0; k + 1 < syms[i].size(); ++k) {
      uint64_t p = pair_key(syms[i][k], syms[i][k + 1]);
      pair_counts[p] += counts[i];
      occurs[p].insert(static_cast<int32_t>(i));
    }
  struct Item {
    int64_t count;
    uint64_t pair;
    bool operator<(const Item& o) const {  // max-heap: higher count, then smaller pair
      return count != o.count ? count < o.count : pair > o.pair;
    }
  };
  std::priority_queue<Item> queue;
  for (auto& [p, c] : pair_counts)
    if (c > 0) queue.push({c, p});
  while (static_cast<int64_t>(w2id.size()) < opt.vocab_size && !queue.empty()) {
    Item top = queue.top();
    queue.pop();
    int64_t real = pair_counts[top.pair];
    if (top.count != real) {
      top.count = real;
      if (real > 0) queue.push(top);
      continue;
    }
    if (top.count < 1 || opt.min_frequency > top.count) break;
    int32_t a = static_cast<int32_t>(top.pair >> 32), b = static_cast<int32_t>(top.pair & 0xFFFFFFFFu);
    std::string part_b = res.vocab[b];
    if (!opt.prefix.empty() && part_b.compare(0, opt.prefix.size(), opt.prefix) == 0) part_b.erase(0, opt.prefix.size());
    std::string merged = res.vocab[a] + part_b;
    res.merges.emplace_back(res.vocab[a], res.vocab[b]);
    add(merged);
    int32_t nid = w2id[merged];
    std::vector<int32_t> where_list(occurs[top.pair].begin(), occurs[top.pair].end());
    std::sort(where_list.begin(), where_list.end());
    std::unordered_map<uint64_t, int64_t> changed;
    for (int32_t wi : where_list) {
      auto& w = syms[wi];
      int64_t c = counts[wi];
      for (size_t k = 0; k + 1 < w.size(); ++k) {
        if (w[k] != a || w[k + 1] != b) continue;
        if (k > 0) {
          pair_counts[pair_key(w[k - 1], a)] -= c;
          uint64_t np = pair_key(w[k - 1], nid);
          pair_counts[np] += c;
          changed[np];
          occurs[np].insert(wi);
        }
        w[k] = nid;
        w.erase(w.begin() + k + 1);
        if (k + 1 < w.size()) {
          pair_counts[pair_key(b, w[k + 1])] -= c;
          uint64_t np = pair_key(nid, w[k + 1]);
          pair_counts[np] += c;
          changed[np];
          occurs[np].insert(wi);
        }
      }
    }
    pair_counts[top.pair] = 0;
    for (auto& [p, unused] : changed)
      if (pair_counts[p] > 0) queue.push({pair_counts[p], p});
  }
  return res;
}

std::unique_ptr<BpeTokenizer> train_byte_level_bpe(const std::vector<std::string>& files, const BpeTrainOptions& opt) {
  auto counts = count_words(files, [](std::string_view line, auto&& emit) {
    gpt2_pretokenize(line, [&](size_t b, size_t e) { emit(byte_level_encode(line.substr(b, e - b))); });
  });
  BpeTrainResult r = train_bpe_words(counts, opt);
  std::vector<std::pair<std::string, int32_t>> vocab;
  std::vector<AddedToken> added;
  for (size_t i = 0; i < r.vocab.size(); ++i) vocab.emplace_back(r.vocab[i], static_cast<int32_t>(i));
  for (size_t i = 0; i < opt.special_tokens.size(); ++i)
    added.push_back(AddedToken{opt.special_tokens[i], static_cast<int32_t>(i), true, false, false, false});
  return std::make_unique<BpeTokenizer>(vocab, r.merges, std::move(added));
}

std::unique_ptr<WordPieceTokenizer> train_wordpiece(const std::vector<std::string>& files, int64_t vocab_size,
                                                    int64_t min_frequency, int64_t limit_alphabet, bool lowercase) {
  WordPieceConfig cfg;
  cfg.lowercase = lowercase;
  // A tokenizer with an empty vocabulary gives the normalizer and pre-tokenizer.
  WordPieceTokenizer norm({"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"}, cfg);
  auto counts = count_words(files, [&](std::string_view line, auto&& emit) {
    for (auto& w : norm.pre_tokenize(norm.normalize(line))) emit(std::move(w));
  });
  BpeTrainOptions opt;
  opt.vocab_size = vocab_size;
  opt.min_frequency = min_frequency;
  opt.special_tokens = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
  opt.byte_alphabet = false;
  opt.limit_alphabet = limit_alphabet;
  opt.prefix = "##";
  BpeTrainResult r = train_bpe_words(counts, opt);
  return std::make_unique<WordPieceTokenizer>(std::move(r.vocab), cfg);
}

std::unique_ptr<CharTokenizer> train_char(const std::vector<std::string>& files) {
  std::vector<std::string> texts;
  for (auto& f : files) texts.push_back(read_file(f));
  return CharTokenizer::train(texts);
}

}  // namespace lm
