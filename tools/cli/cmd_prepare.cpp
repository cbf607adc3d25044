// `lmcpp prepare`: documents (Wikipedia dumps, text, JSON Lines) -> train/val token shards + meta.json
// (DESIGN.md section 9). The pipeline is lm::prepare_dataset; this file maps flags onto it.
#include <cstdio>

#include "command.h"
#include "lm/core/error.h"
#include "lm/core/threads.h"
#include "lm/data/prepare.h"
#include "lm/tokenize/tokenizer.h"

namespace lm::cli {
namespace {

int run_prepare(Args& a) {
  PrepareOptions o;
  o.inputs = a.get_all("--input");
  // "--input a b c": the paths after the first one arrive as positionals.
  for (auto& p : a.positional()) o.inputs.push_back(p);
  std::string tok_dir = a.require("--tokenizer");
  o.out_dir = a.require("--out");
  o.format = parse_input_format(a.get_or("--format", "auto"));
  o.val_fraction = a.get_double("--val-fraction", o.val_fraction);
  o.text_out = a.get_or("--text-out", "");
  std::string split = a.get_or("--split", "file");
  LM_CHECK(split == "file" || split == "blank-line", "--split must be file or blank-line, got '{}'", split);
  o.text_split = split == "file" ? TextSplit::PerFile : TextSplit::PerBlankLine;
  o.seed = static_cast<uint64_t>(a.get_int("--seed", 0));
  o.threads = static_cast<int>(a.get_int("--threads", 0));
  int64_t shard_tokens = a.get_int("--shard-tokens", static_cast<int64_t>(o.shard_tokens));
  LM_CHECK(shard_tokens > 0, "--shard-tokens must be positive, got {}", shard_tokens);
  o.shard_tokens = static_cast<uint64_t>(shard_tokens);
  o.max_documents = a.get_int("--max-documents", -1);
  o.skip_disambiguation = a.flag("--skip-disambiguation");
  o.progress = !a.flag("--quiet");
  bool json = a.flag("--json");
  std::string layout = a.get_or("--layout", "auto");
  a.positional().clear();
  a.finish();
  LM_CHECK(!o.inputs.empty(), "missing required flag --input, in lmcpp prepare (see lmcpp prepare --help)");

  if (o.threads > 0) set_num_threads(o.threads);  // also bounds parallel bzip2 decoding
  auto tok = load_tokenizer(tok_dir);
  o.tokenizer_name = tok_dir;
  o.layout = parse_data_layout(layout, tok->type());
  PrepareStats st = prepare_dataset(o, *tok);
  if (json) {
    std::printf("%s\n", st.meta.dump().c_str());
  } else {
    std::printf(
        "%lld documents (%lld train, %lld val, split by %s), %llu train + %llu val tokens, %.1f MB of text "
        "in %.1f s -> %s\n",
        static_cast<long long>(st.documents), static_cast<long long>(st.train_documents),
        static_cast<long long>(st.val_documents), st.split_mode.c_str(),
        static_cast<unsigned long long>(st.train_tokens), static_cast<unsigned long long>(st.val_tokens),
        static_cast<double>(st.uncompressed_bytes) / 1e6, st.seconds, o.out_dir.c_str());
  }
  return 0;
}

LM_COMMAND(
    "prepare", "tokenize a corpus (Wikipedia dump, text, JSON Lines) into train/val token shards",
    "usage: lmcpp prepare --input PATH... --tokenizer DIR --out DIR [flags]\n"
    "  --input PATH...        files or folders (repeatable); .bz2 (multistream too), .gz, .zst are read "
    "directly\n"
    "  --tokenizer DIR        tokenizer directory (vocab.json+merges.txt, vocab.txt or tokenizer.json)\n"
    "  --out DIR              output: train_NNNNNN.bin, val_NNNNNN.bin, meta.json, tokenizer/\n"
    "  --format F             auto (default), wikipedia, text or jsonl\n"
    "  --val-fraction F       fraction of documents for validation (default 0.01); a single document is\n"
    "                         split by position instead\n"
    "  --text-out FILE.jsonl  also write the cleaned documents as {\"title\", \"text\"} lines\n"
    "  --split file|blank-line  plain text: one document per file (default) or per blank-line block\n"
    "  --skip-disambiguation  drop Wikipedia disambiguation pages\n"
    "  --seed N               seed of the train/val assignment (default 0)\n"
    "  --threads N            worker threads (default: all)\n"
    "  --shard-tokens N       tokens per shard file (default 100000000)\n"
    "  --max-documents N      stop after N documents\n"
    "  --quiet                no progress line on stderr\n"
    "  --json                 print meta.json instead of the summary line\n"
    "  --layout L             auto (default: sentences for WordPiece tokenizers, else tokens), tokens\n"
    "                         (document ids + end-of-text, for GPT) or sentences (each sentence + [SEP],\n"
    "                         one more [SEP] per document, for BERT pretraining)",
    run_prepare);

}  // namespace
}  // namespace lm::cli
