// `lmcpp prepare`: documents (Wikipedia dumps, plain text, JSON Lines) -> cleaned text -> token ids on all
// threads (output in input order) -> train/val token shards + meta.json (+ optional cleaned JSON Lines).
// Each document is followed by the tokenizer's end-of-text id. Everything is staged in a temporary folder and
// moved into place only after the whole input was read: an error leaves no partial shard behind.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "lm/core/json.h"
#include "lm/data/text_input.h"
#include "lm/tokenize/tokenizer.h"

namespace lm {

enum class InputFormat { Auto, Wikipedia, Text, Jsonl };

// Token layout of the shards. Tokens: each document's ids followed by the end-of-text id (GPT pretraining).
// Sentences (BERT pretraining): each sentence (bert_data.h split_sentences) followed by the separator id (the
// tokenizer's eos, [SEP] for WordPiece), and one more separator after each document, so a document ends with two
// separators in a row; separator ids inside a sentence's text are dropped.
enum class DataLayout { Tokens, Sentences };
// "tokens" | "sentences"; "auto" gives Sentences for WordPiece tokenizers and Tokens otherwise.
DataLayout parse_data_layout(const std::string& s, const std::string& tokenizer_type);
const char* data_layout_name(DataLayout l);

InputFormat parse_input_format(const std::string& s);  // "auto" | "wikipedia" | "text" | "jsonl"
// Format of one file for --format auto: JSON Lines by name (.jsonl/.ndjson, any compression suffix),
// MediaWiki XML by content (<mediawiki after an optional <?xml ...?>), plain text otherwise.
InputFormat detect_input_format(const std::string& path);

// One raw document of an input: wikitext (not yet cleaned) for dumps, plain text otherwise.
struct SourceDocument {
  std::string title, text;
  bool wikitext = false;
};
struct SourceProgress {
  uint64_t input_bytes = 0;   // bytes of the input files consumed (compressed for dumps)
  uint64_t parsed_bytes = 0;  // XML / text bytes parsed
};
using SourceDocumentFn = std::function<bool(SourceDocument&& doc, const SourceProgress& progress)>;

// Streams the documents of `files` in order (formats[i] for files[i]; Auto detects); fn returns false to
// stop. Returns the parsed bytes. Used by prepare_dataset and by the BERT example builder.
uint64_t for_each_source_document(const std::vector<std::string>& files,
                                  const std::vector<InputFormat>& formats, TextSplit split,
                                  bool skip_disambiguation, const SourceDocumentFn& fn);

struct PrepareOptions {
  std::vector<std::string> inputs;  // files or folders
  std::string out_dir;
  InputFormat format = InputFormat::Auto;
  double val_fraction =
      0.01;              // documents hashed below this go to val; a single document is split by position
  std::string text_out;  // optional JSON Lines {"title", "text"} of the cleaned documents
  TextSplit text_split = TextSplit::PerFile;
  bool skip_disambiguation = false;
  uint64_t seed = 0;
  int threads = 0;  // <= 0: all hardware threads
  uint64_t shard_tokens = 100'000'000;
  int64_t max_documents = -1;  // stop after this many kept documents (< 0: all)
  bool progress = true;        // progress line on stderr
  std::string tokenizer_name;  // recorded in meta.json (e.g. the tokenizer directory)
  DataLayout layout = DataLayout::Tokens;
  // Set (e.g. by a SIGINT handler) to stop: prepare_dataset throws and removes its staging folder, OUT untouched.
  const std::atomic<bool>* stop = nullptr;
};

struct PrepareStats {
  int64_t documents = 0, train_documents = 0, val_documents = 0, skipped_empty = 0;
  uint64_t train_tokens = 0, val_tokens = 0;
  uint64_t input_bytes = 0;         // bytes read from the input files (compressed size for dumps)
  uint64_t uncompressed_bytes = 0;  // XML / text bytes parsed
  double seconds = 0;
  std::string split_mode;  // "document" or "position"
  Json meta;               // the meta.json written
};

PrepareStats prepare_dataset(const PrepareOptions& opt, const Tokenizer& tokenizer);

// Deterministic train/val assignment: a hash of (title, seed), or of (index, seed) for an untitled document.
bool is_val_document(const std::string& title, uint64_t index, uint64_t seed, double val_fraction);

}  // namespace lm
