// `lmcpp train-tokenizer`: learns a byte-level BPE, WordPiece or character vocabulary from text files and writes
// it in HF layout (vocab.json + merges.txt | vocab.txt, tokenizer.json, tokenizer_config.json,
// special_tokens_map.json | char_vocab.json).
#include <cstdio>
#include <string>
#include <vector>

#include "command.h"
#include "out_dir.h"
#include "lm/core/error.h"
#include "lm/core/file_util.h"
#include "lm/core/threads.h"
#include "lm/tokenize/train.h"

namespace lm::cli {
namespace {

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= s.size()) {
    size_t c = s.find(',', pos);
    if (c == std::string::npos) c = s.size();
    if (c > pos) out.push_back(s.substr(pos, c - pos));
    pos = c + 1;
  }
  return out;
}

const CommandSpec kTrainTokenizer{
    .name = "train-tokenizer",
    .summary = "learn a BPE, WordPiece or char vocabulary from text files",
    .description =
        "bpe: byte-level BPE like HF ByteLevelBPETokenizer.train (full byte alphabet, min frequency 2, special "
        "tokens default <|endoftext|>); writes vocab.json, merges.txt, tokenizer.json, tokenizer_config.json, "
        "special_tokens_map.json.\n"
        "wordpiece: like HF BertWordPieceTokenizer.train (uncased unless --cased, limit alphabet 1000, [PAD] [UNK] "
        "[CLS] [SEP] [MASK]); writes vocab.txt, tokenizer.json, tokenizer_config.json, special_tokens_map.json.\n"
        "char: one token per character seen (--vocab-size ignored); writes char_vocab.json.\n"
        "Files are read line by line, each line with its newline, as HF's trainers read them. DIR must not be or "
        "hold an input, nor be a non-empty directory lmcpp did not make for train-tokenizer (unless --overwrite).",
    .flags = {
        choice_flag("--type", {"bpe", "wordpiece", "char"}, std::nullopt, "the tokenizer model to learn").required(),
        repeated_flag("--input", "FILE", "text files to learn from").rest().required(),
        int_flag("--vocab-size", "N", 0, "vocabulary size, special tokens included (required for bpe and wordpiece)"),
        string_flag("--out", "DIR", "output tokenizer directory").required(),
        int_flag("--min-frequency", "N", 2, "merge only pairs seen at least N times"),
        string_flag("--special-tokens", "A,B", "bpe: comma-separated special tokens (default <|endoftext|>); "
                                               "wordpiece's are fixed"),
        int_flag("--limit-alphabet", "N", -1, "keep only the N most frequent characters (-1: bpe all, wordpiece "
                                              "1000)"),
        bool_flag("--cased", "wordpiece: keep case (default: lowercase, like bert-base-uncased)"),
        int_flag("--threads", "N", 0, "worker threads (0: all)"),
        bool_flag("--overwrite", "write into a non-empty DIR lmcpp did not make for train-tokenizer"),
    },
    .examples = {
        {.command = "lmcpp train-tokenizer --type bpe --input ../shared/data/tinyshakespeare/input.txt --vocab-size 4096 --out out/shakespeare_bpe"},
        {.command = "lmcpp train-tokenizer --type char --input ../shared/data/tinyshakespeare/input.txt --out out/shakespeare_char/tokenizer",
         .comment = "one token per character"},
    },
};

int run_train_tokenizer(const Flags& f) {
  const std::string type = f.str("--type");
  const std::vector<std::string>& inputs = f.all("--input");
  const int64_t vocab_size = f.i64("--vocab-size");
  const std::string out = f.str("--out");
  const int64_t min_frequency = f.i64("--min-frequency");
  const auto specials = f.get("--special-tokens");
  const int64_t limit_alphabet = f.i64("--limit-alphabet");
  const bool cased = f.on("--cased");
  const int threads = static_cast<int>(f.i64("--threads"));
  for (auto& path : inputs) LM_CHECK_AS(ErrorCode::NotFound, file_exists(path), "input file not found, in {}", path);
  LM_CHECK(type == "char" || vocab_size > 0, "--vocab-size N (> 0) is required for --type {}, in lmcpp train-tokenizer",
           type);
  LM_CHECK(min_frequency >= 0, "--min-frequency must be >= 0, in lmcpp train-tokenizer");
  if (threads > 0) set_num_threads(threads);
  std::vector<std::pair<std::string, std::string>> in;
  for (const auto& path : inputs) in.emplace_back("--input", path);
  OutDir dir({.command = "train-tokenizer", .out = out, .inputs = in, .overwrite = f.on("--overwrite")});
  std::unique_ptr<Tokenizer> tok;
  if (type == "bpe") {
    BpeTrainOptions opt;
    opt.vocab_size = vocab_size;
    opt.min_frequency = min_frequency;
    opt.special_tokens = specials ? split_commas(*specials) : std::vector<std::string>{"<|endoftext|>"};
    opt.limit_alphabet = std::max<int64_t>(0, limit_alphabet);
    LM_CHECK(vocab_size >= static_cast<int64_t>(256 + opt.special_tokens.size()),
             "--vocab-size {} is below the 256 byte tokens plus {} special tokens, in lmcpp train-tokenizer",
             vocab_size, opt.special_tokens.size());
    tok = train_byte_level_bpe(inputs, opt);
  } else if (type == "wordpiece") {
    LM_CHECK(!specials, "--special-tokens is fixed for wordpiece ([PAD] [UNK] [CLS] [SEP] [MASK])");
    tok = train_wordpiece(inputs, vocab_size, min_frequency, limit_alphabet < 0 ? 1000 : limit_alphabet, !cased);
  } else {
    tok = train_char(inputs);
  }
  tok->save(out);
  dir.keep();
  std::fprintf(stderr, "lmcpp: trained %s tokenizer, vocab size %lld, written to %s\n", type.c_str(),
               static_cast<long long>(tok->vocab_size()), out.c_str());
  return 0;
}

LM_DECLARE_COMMAND(kTrainTokenizer, run_train_tokenizer);

}  // namespace
}  // namespace lm::cli
