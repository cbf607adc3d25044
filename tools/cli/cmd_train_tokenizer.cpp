// `lmcpp train-tokenizer`: learns a byte-level BPE, WordPiece or character vocabulary from text files and writes
// it in HF layout (vocab.json + merges.txt + tokenizer.json | vocab.txt + tokenizer_config.json + tokenizer.json |
// char_vocab.json).
#include <cstdio>
#include <string>
#include <vector>

#include "command.h"
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

int run_train_tokenizer(Args& a) {
  std::string type = a.require("--type");
  std::vector<std::string> inputs = a.get_all("--input");
  int64_t vocab_size = a.get_int("--vocab-size", 0);
  std::string out = a.require("--out");
  int64_t min_frequency = a.get_int("--min-frequency", 2);
  auto specials = a.get("--special-tokens");
  int64_t limit_alphabet = a.get_int("--limit-alphabet", -1);
  bool cased = a.flag("--cased");
  int threads = static_cast<int>(a.get_int("--threads", 0));
  // "--input a.txt b.txt": the files after the first arrive as positionals.
  for (auto& p : a.positional()) inputs.push_back(p);
  a.positional().clear();
  a.finish();
  LM_CHECK(!inputs.empty(), "missing --input FILE..., in lmcpp train-tokenizer");
  for (auto& f : inputs) LM_CHECK_AS(ErrorCode::NotFound, file_exists(f), "input file not found, in {}", f);
  LM_CHECK(type == "bpe" || type == "wordpiece" || type == "char",
           "--type must be bpe, wordpiece or char, got '{}', in lmcpp train-tokenizer", type);
  LM_CHECK(type == "char" || vocab_size > 0, "--vocab-size N (> 0) is required for --type {}, in lmcpp train-tokenizer",
           type);
  LM_CHECK(min_frequency >= 0, "--min-frequency must be >= 0, in lmcpp train-tokenizer");
  if (threads > 0) set_num_threads(threads);
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
  std::fprintf(stderr, "lmcpp: trained %s tokenizer, vocab size %lld, written to %s\n", type.c_str(),
               static_cast<long long>(tok->vocab_size()), out.c_str());
  return 0;
}

LM_COMMAND("train-tokenizer", "learn a BPE, WordPiece or char vocabulary from text files",
           "usage: lmcpp train-tokenizer --type bpe|wordpiece|char --input FILE... --vocab-size N --out DIR\n"
           "                             [--min-frequency N] [--special-tokens A,B] [--limit-alphabet N] [--cased]\n"
           "                             [--threads N]\n"
           "  bpe:       byte-level BPE like HF ByteLevelBPETokenizer.train (full byte alphabet, min frequency 2,\n"
           "             special tokens default <|endoftext|>); writes vocab.json, merges.txt, tokenizer.json.\n"
           "  wordpiece: like HF BertWordPieceTokenizer.train (uncased unless --cased, limit alphabet 1000,\n"
           "             [PAD] [UNK] [CLS] [SEP] [MASK]); writes vocab.txt, tokenizer_config.json, tokenizer.json.\n"
           "  char:      one token per character seen (--vocab-size ignored); writes char_vocab.json.\n"
           "  Files are read line by line, each line with its newline, as HF's trainers read them.",
           run_train_tokenizer);

}  // namespace
}  // namespace lm::cli
