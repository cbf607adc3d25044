// Data preparation pipeline: one reader thread (decompression + XML/text parsing) feeds batches of raw
// documents through a bounded queue; the calling thread cleans and tokenizes each batch on all threads, then
// appends the results in input order to the train/val shard writers inside a staging folder.
#include "lm/data/prepare.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

#include "lm/core/error.h"
#include "lm/core/file_util.h"
#include "lm/core/progress.h"
#include "lm/core/temp_names.h"
#include "lm/core/threads.h"
#include "lm/data/bert_data.h"
#include "lm/data/shard.h"
#include "lm/data/wikitext.h"

namespace lm {
namespace {

namespace fs = std::filesystem;

struct RawDoc {
  std::string title, text;
  bool wikitext = false;
};

struct Batch {
  std::vector<RawDoc> docs;
  uint64_t input_bytes = 0;  // cumulative input consumed when the batch was cut (for progress)
  uint64_t uncompressed_bytes = 0;
};

// Bounded single-producer single-consumer queue; cancel() unblocks the producer when the consumer fails.
class BatchQueue {
 public:
  bool push(Batch&& b) {
    std::unique_lock<std::mutex> lk(mu_);
    cv_.wait(lk, [&] { return q_.size() < kCapacity || cancelled_; });
    if (cancelled_) return false;
    q_.push_back(std::move(b));
    cv_.notify_all();
    return true;
  }
  bool pop(Batch& b) {
    std::unique_lock<std::mutex> lk(mu_);
    cv_.wait(lk, [&] { return !q_.empty() || closed_; });
    if (q_.empty()) return false;
    b = std::move(q_.front());
    q_.pop_front();
    cv_.notify_all();
    return true;
  }
  void close() {
    std::lock_guard<std::mutex> lk(mu_);
    closed_ = true;
    cv_.notify_all();
  }
  void cancel() {
    std::lock_guard<std::mutex> lk(mu_);
    cancelled_ = true;
    cv_.notify_all();
  }
  bool cancelled() {
    std::lock_guard<std::mutex> lk(mu_);
    return cancelled_;
  }

 private:
  static constexpr size_t kCapacity = 3;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Batch> q_;
  bool closed_ = false, cancelled_ = false;
};

// Removes the staging folder however prepare_dataset exits (a successful publish has emptied it).
struct StagingGuard {
  std::string dir;
  ~StagingGuard() {
    std::error_code ec;
    if (!dir.empty()) fs::remove_all(dir, ec);
  }
};

// Stops and joins the reader thread on every exit (cancel() unblocks a reader waiting on a full queue).
struct JoinGuard {
  std::thread& t;
  BatchQueue& q;
  ~JoinGuard() {
    q.cancel();
    if (t.joinable()) t.join();
  }
};

uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Train or val token stream: rotates shards every `cap` tokens, staged in `dir`.
class SplitWriter {
 public:
  SplitWriter(std::string dir, std::string split, uint32_t dtype, uint32_t vocab, int32_t eos, uint64_t cap)
      : dir_(std::move(dir)), split_(std::move(split)), dtype_(dtype), vocab_(vocab), eos_(eos), cap_(cap) {}
  void write(const std::vector<int32_t>& ids, size_t begin, size_t end, bool add_eos,
             bool counts_as_document) {
    if (!w_) {
      std::string name = fmt::format("{}_{:06d}.bin", split_, names_.size());
      names_.push_back(name);
      w_ = std::make_unique<ShardWriter>(dir_ + "/" + name, dtype_, vocab_, eos_);
    }
    w_->append(ids.data() + begin, end - begin);
    if (add_eos && eos_ >= 0) w_->append(&eos_, 1);
    if (counts_as_document) {
      w_->add_documents(1);
      ++documents;
    }
    tokens += end - begin + (add_eos && eos_ >= 0 ? 1 : 0);
    if (w_->tokens() >= cap_) finish_shard();
  }
  void finish_shard() {
    if (w_) w_->commit();
    w_.reset();
  }
  const std::vector<std::string>& names() const { return names_; }
  uint64_t tokens = 0;
  int64_t documents = 0;

 private:
  std::string dir_, split_;
  uint32_t dtype_, vocab_;
  int32_t eos_;
  uint64_t cap_;
  std::unique_ptr<ShardWriter> w_;
  std::vector<std::string> names_;
};

struct Prepared {
  std::string title;
  std::vector<int32_t> ids;
  uint64_t index = 0;
};

struct Piece {
  size_t doc, begin, end;
  std::vector<int32_t> ids;
};

constexpr size_t kPieceBytes = 1 << 20;

// Cuts text into pieces of about `target` bytes, each ending with a '\n' that is followed by a non-space
// character. Such a point is a pre-tokenization boundary for GPT-2 byte-level BPE (the newline is its own
// pre-token: \s+(?!\S) cannot take it, \s+ stops there), WordPiece (splits on whitespace) and characters, so
// the concatenated ids equal those of the whole text.
std::vector<std::pair<size_t, size_t>> split_for_tokenizer(std::string_view t, size_t target) {
  std::vector<std::pair<size_t, size_t>> out;
  size_t b = 0;
  while (t.size() - b > target) {
    size_t p = t.find('\n', b + target);
    while (p != std::string_view::npos && p + 1 < t.size() &&
           (t[p + 1] == ' ' || t[p + 1] == '\t' || t[p + 1] == '\r' || t[p + 1] == '\n'))
      p = t.find('\n', p + 1);
    if (p == std::string_view::npos || p + 1 >= t.size()) break;
    out.emplace_back(b, p + 1);
    b = p + 1;
  }
  out.emplace_back(b, t.size());
  return out;
}

// fn(i) for i in [0, n) on `threads` workers pulling indices from a shared counter (pieces differ in cost).
void dynamic_for(size_t n, int threads, const std::function<void(size_t)>& fn) {
  std::atomic<size_t> next{0};
  parallel_for(
      std::max<int64_t>(1, std::min<int64_t>(threads, static_cast<int64_t>(n))),
      [&](int64_t, int64_t, int) {
        for (size_t i; (i = next.fetch_add(1)) < n;) fn(i);
      },
      threads);
}

const char* format_name(InputFormat f) {
  switch (f) {
    case InputFormat::Auto:
      return "auto";
    case InputFormat::Wikipedia:
      return "wikipedia";
    case InputFormat::Text:
      return "text";
    case InputFormat::Jsonl:
      return "jsonl";
  }
  return "?";
}

}  // namespace

bool is_val_document(const std::string& title, uint64_t index, uint64_t seed, double val_fraction) {
  if (val_fraction <= 0) return false;
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : title) h = (h ^ c) * 0x100000001b3ull;
  // The title alone decides when there is one, so an article keeps its split across dump versions; untitled
  // documents fall back to their position.
  h = splitmix64(h ^ splitmix64((title.empty() ? index : 0) ^ splitmix64(seed)));
  double u = static_cast<double>(h >> 11) * (1.0 / 9007199254740992.0);
  return u < val_fraction;
}

namespace {

// The reader thread: streams the source documents into batches of about 8 MB (at most 4096 documents) and
// pushes them on `queue`; stops early at opt.max_documents or when the consumer cancels.
void read_batches(const PrepareOptions& opt, const std::vector<std::string>& files,
                  const std::vector<InputFormat>& formats, uint64_t total_input, BatchQueue& queue,
                  std::atomic<uint64_t>& uncompressed) {
  constexpr size_t kBatchBytes = 8 << 20;
  Batch batch;
  size_t batch_bytes = 0;
  int64_t ndocs = 0;
  bool stop = false;
  auto add = [&](RawDoc&& d, uint64_t input_pos) -> bool {
    batch_bytes += d.text.size();
    batch.docs.push_back(std::move(d));
    ++ndocs;
    if (batch_bytes >= kBatchBytes || batch.docs.size() >= 4096) {
      batch.input_bytes = input_pos;
      batch.uncompressed_bytes = uncompressed.load();
      if (!queue.push(std::move(batch))) return false;
      batch = Batch{};
      batch_bytes = 0;
    }
    if (opt.max_documents >= 0 && ndocs >= opt.max_documents) stop = true;
    return !stop;
  };
  uint64_t total = for_each_source_document(
      files, formats, opt.text_split, opt.skip_disambiguation,
      [&](SourceDocument&& d, const SourceProgress& pr) {
        uncompressed.store(pr.parsed_bytes);
        return !queue.cancelled() &&
               add(RawDoc{std::move(d.title), std::move(d.text), d.wikitext}, pr.input_bytes);
      });
  uncompressed.store(total);
  batch.input_bytes = total_input;
  batch.uncompressed_bytes = uncompressed.load();
  if (!batch.docs.empty()) queue.push(std::move(batch));
}

// Cleans (wikitext) and tokenizes every document of `batch` into texts[i] / ids[i]. Documents are cut into
// ~1 MB pieces so one huge document (a corpus that is a single file) is tokenized on all threads too; workers
// pull items dynamically. The sentences layout ends each sentence with `eos`.
void clean_and_tokenize(Batch& batch, const Tokenizer& tok, bool sentences, int32_t eos, int threads,
                        std::vector<std::string>& texts, std::vector<std::vector<int32_t>>& ids) {
  size_t n = batch.docs.size();
  texts.assign(n, std::string());
  ids.assign(n, std::vector<int32_t>());
  dynamic_for(n, threads, [&](size_t i) {
    RawDoc& d = batch.docs[i];
    texts[i] = d.wikitext ? clean_wikitext(d.text) : std::move(d.text);
  });
  std::vector<Piece> pieces;
  for (size_t i = 0; i < n; ++i) {
    if (texts[i].find_first_not_of(" \t\r\n") == std::string::npos) continue;
    for (auto [b, e] : split_for_tokenizer(texts[i], kPieceBytes)) pieces.push_back({i, b, e, {}});
  }
  dynamic_for(pieces.size(), threads, [&](size_t k) {
    Piece& p = pieces[k];
    std::string_view piece = std::string_view(texts[p.doc]).substr(p.begin, p.end - p.begin);
    if (!sentences) {
      p.ids = tok.encode(piece, false);
      return;
    }
    // Pieces end at line breaks, which always end a sentence, so splitting per piece equals splitting the
    // whole document.
    for (const auto& s : split_sentences(piece)) {
      std::vector<int32_t> ids = tok.encode(s, false);
      ids.erase(std::remove(ids.begin(), ids.end(), eos), ids.end());
      if (ids.empty()) continue;
      p.ids.insert(p.ids.end(), ids.begin(), ids.end());
      p.ids.push_back(eos);
    }
  });
  for (auto& p : pieces) ids[p.doc].insert(ids[p.doc].end(), p.ids.begin(), p.ids.end());
}

// A document goes to val or train by the hash of its title (is_val_document).
void write_document(const Prepared& p, const PrepareOptions& opt, SplitWriter& train, SplitWriter& val) {
  bool to_val = is_val_document(p.title, p.index, opt.seed, opt.val_fraction);
  (to_val ? val : train).write(p.ids, 0, p.ids.size(), true, true);
}

// The last document decides the corner cases: a one-document corpus is split by position (last tokens to
// val); otherwise, if hashing sent nothing to val, the last document goes there so val is never empty.
// Returns the split mode recorded in meta.json: "document" or "position".
std::string write_last_document(const Prepared& last, uint64_t documents, const PrepareOptions& opt,
                                bool sentences, int32_t eos, SplitWriter& train, SplitWriter& val) {
  if (documents == 1 && opt.val_fraction > 0 && last.ids.size() >= 2) {
    size_t n = last.ids.size();
    size_t nval = std::clamp<size_t>(
        static_cast<size_t>(std::llround(static_cast<double>(n) * opt.val_fraction)), 1, n - 1);
    if (sentences) {  // cut after a sentence's separator, so both sides hold whole sentences
      size_t cut = n - nval;
      while (cut > 1 && last.ids[cut - 1] != eos) --cut;
      if (cut > 1 && cut < n) nval = n - cut;
    }
    train.write(last.ids, 0, n - nval, false, true);
    val.write(last.ids, n - nval, n, true, true);
    return "position";
  }
  if (opt.val_fraction > 0 && val.documents == 0) {
    val.write(last.ids, 0, last.ids.size(), true, true);
  } else {
    write_document(last, opt, train, val);
  }
  return "document";
}

// The meta.json of a prepared directory: counts, shard names, split, tokenizer and input description.
Json make_meta(const PrepareOptions& opt, const PrepareStats& st, const SplitWriter& train,
               const SplitWriter& val, const std::string& tokenizer_type, int64_t vocab, uint32_t dtype,
               int32_t eos) {
  Json meta{{"format", "lmcpp-token-shards"},
            {"version", 1},
            {"documents", st.documents},
            {"train_documents", st.train_documents},
            {"val_documents", st.val_documents},
            {"tokens", st.train_tokens + st.val_tokens},
            {"train_tokens", st.train_tokens},
            {"val_tokens", st.val_tokens},
            {"train_shards", train.names()},
            {"val_shards", val.names()},
            {"split", st.split_mode},
            {"val_fraction", opt.val_fraction},
            {"seed", opt.seed},
            {"tokenizer", opt.tokenizer_name},
            {"tokenizer_type", tokenizer_type},
            {"tokenizer_dir", "tokenizer"},
            {"vocab_size", vocab},
            {"dtype", dtype == 2 ? "uint16" : "uint32"},
            {"eos_id", eos >= 0 ? Json(eos) : Json(nullptr)},
            {"layout", data_layout_name(opt.layout)},
            {"skipped_empty_documents", st.skipped_empty},
            {"input_format", format_name(opt.format)},
            {"inputs", opt.inputs},
            {"input_bytes", st.input_bytes},
            {"text_bytes", st.uncompressed_bytes}};
  return meta;
}

// Publish: old shards of a previous run are removed, staged files renamed in, meta.json written last.
void publish(const std::string& staging, const std::string& out_dir, const SplitWriter& train,
             const SplitWriter& val, const Json& meta) {
  make_dirs(out_dir);
  for (auto& e : fs::directory_iterator(out_dir)) {
    std::string name = e.path().filename().string();
    if ((name.rfind("train_", 0) == 0 || name.rfind("val_", 0) == 0) && name.ends_with(".bin"))
      fs::remove(e.path());
  }
  for (const auto* w : {&train, &val})
    for (const auto& name : w->names()) fs::rename(staging + "/" + name, out_dir + "/" + name);
  if (fs::exists(staging + "/tokenizer")) {
    fs::remove_all(out_dir + "/tokenizer");
    fs::rename(staging + "/tokenizer", out_dir + "/tokenizer");
  }
  fsync_dir(out_dir);
  write_file_atomic(out_dir + "/meta.json", meta.dump(2) + "\n");
}

}  // namespace

PrepareStats prepare_dataset(const PrepareOptions& opt, const Tokenizer& tok) {
  LM_CHECK(!opt.inputs.empty(), "prepare: no inputs given");
  LM_CHECK(!opt.out_dir.empty(), "prepare: no out_dir given");
  LM_CHECK(opt.val_fraction >= 0 && opt.val_fraction < 1, "val_fraction must be in [0, 1), got {}",
           opt.val_fraction);
  LM_CHECK(opt.shard_tokens > 0, "shard size must be positive");
  std::vector<std::string> files = expand_inputs(opt.inputs);
  std::vector<InputFormat> formats;
  uint64_t total_input = 0;
  for (const auto& f : files) {
    formats.push_back(opt.format == InputFormat::Auto ? detect_input_format(f) : opt.format);
    std::error_code ec;
    total_input += fs::file_size(f, ec);
  }

  int64_t vocab = tok.vocab_size();
  LM_CHECK(vocab > 0 && vocab <= (int64_t{1} << 31), "tokenizer vocab size {} out of range", vocab);
  uint32_t dtype = shard_dtype_for_vocab(vocab);
  int32_t eos = tok.eos_id().value_or(-1);
  const bool sentences = opt.layout == DataLayout::Sentences;
  LM_CHECK(!sentences || eos >= 0,
           "prepare: the sentences layout needs a tokenizer with a separator token ([SEP] or an end-of-text id)");

  // Staged in a sibling folder, renamed in at the end: an interrupted run leaves OUT as it was. Temporaries of
  // killed runs (their pid is gone) are removed, the sibling ones and those of older versions inside OUT.
  const std::string parent = fs::path(opt.out_dir).lexically_normal().parent_path().string();
  if (!parent.empty()) make_dirs(parent);
  remove_stale_temporaries(parent.empty() ? "." : parent, temp_sibling_prefix(opt.out_dir));
  remove_stale_temporaries(opt.out_dir, ".prepare-tmp-");
  std::string staging = temp_sibling(opt.out_dir);
  make_dirs(staging);
  StagingGuard staging_guard{staging};

  PrepareStats st;
  auto t0 = std::chrono::steady_clock::now();
  std::unique_ptr<AtomicFile> text_out;
  if (!opt.text_out.empty()) text_out = std::make_unique<AtomicFile>(opt.text_out);
  SplitWriter train(staging, "train", dtype, static_cast<uint32_t>(vocab), eos, opt.shard_tokens);
  SplitWriter val(staging, "val", dtype, static_cast<uint32_t>(vocab), eos, opt.shard_tokens);

  // ---- reader thread ----
  BatchQueue queue;
  std::exception_ptr reader_error;
  std::atomic<uint64_t> uncompressed{0};
  std::thread reader([&] {
    try {
      read_batches(opt, files, formats, total_input, queue, uncompressed);
    } catch (...) {
      reader_error = std::current_exception();
    }
    queue.close();
  });
  JoinGuard join_guard{reader, queue};

  // ---- clean + tokenize in parallel, write in order ----
  std::unique_ptr<Progress> progress;
  if (opt.progress)
    progress = std::make_unique<Progress>("prepare", static_cast<double>(total_input) / 1e6, "MB");
  int threads = opt.threads > 0 ? opt.threads : hardware_threads();
  std::optional<Prepared> pending;  // the latest document is held back: see the end of the loop
  uint64_t doc_index = 0;
  Batch batch;
  std::vector<std::string> texts;
  std::vector<std::vector<int32_t>> ids;
  while (queue.pop(batch)) {
    LM_CHECK(!(opt.stop && opt.stop->load()), "prepare: interrupted; {} was left as it was", opt.out_dir);
    size_t n = batch.docs.size();
    clean_and_tokenize(batch, tok, sentences, eos, threads, texts, ids);
    for (size_t i = 0; i < n; ++i) {
      if (ids[i].empty()) {
        ++st.skipped_empty;
        continue;
      }
      if (text_out) {
        Json j{{"title", batch.docs[i].title}, {"text", texts[i]}};
        text_out->write(j.dump(-1, ' ', false, Json::error_handler_t::replace));
        text_out->write("\n");
      }
      if (pending) write_document(*pending, opt, train, val);
      pending = Prepared{std::move(batch.docs[i].title), std::move(ids[i]), doc_index++};
    }
    st.input_bytes = batch.input_bytes;
    if (progress)
      progress->update(static_cast<double>(batch.input_bytes) / 1e6,
                       fmt::format("{} docs, {} tokens, {:.1f} MB text", doc_index, train.tokens + val.tokens,
                                   static_cast<double>(batch.uncompressed_bytes) / 1e6));
  }
  if (reader_error) std::rethrow_exception(reader_error);
  LM_CHECK(pending.has_value(), "prepare: the input holds no documents with text ({} read)", files.size());

  st.split_mode = write_last_document(*pending, doc_index, opt, sentences, eos, train, val);
  train.finish_shard();
  val.finish_shard();

  st.documents = static_cast<int64_t>(doc_index);
  st.train_documents = train.documents;
  st.val_documents = val.documents;
  st.train_tokens = train.tokens;
  st.val_tokens = val.tokens;
  st.uncompressed_bytes = uncompressed.load();
  st.input_bytes = total_input;
  st.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  tok.save(staging + "/tokenizer");
  Json meta = make_meta(opt, st, train, val, tok.type(), vocab, dtype, eos);
  st.meta = meta;

  publish(staging, opt.out_dir, train, val, meta);
  if (text_out) text_out->commit();
  if (progress) progress->update(static_cast<double>(total_input) / 1e6);
  if (progress)
    progress->finish(
        fmt::format("{} docs, {} train + {} val tokens, {:.1f} MB text ({:.1f} MB/s)", st.documents,
                    st.train_tokens, st.val_tokens, static_cast<double>(st.uncompressed_bytes) / 1e6,
                    static_cast<double>(st.uncompressed_bytes) / 1e6 / std::max(st.seconds, 1e-9)));
  return st;
}

}  // namespace lm
