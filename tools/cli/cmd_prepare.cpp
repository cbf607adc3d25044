// `lmcpp prepare`: documents (Wikipedia dumps, text, JSON Lines) -> train/val token shards + meta.json
// (DESIGN.md section 9). The pipeline is lm::prepare_dataset; this file maps flags onto it.
#include <atomic>
#include <csignal>
#include <cstdio>

#include "command.h"
#include "out_dir.h"
#include "lm/core/error.h"
#include "lm/core/threads.h"
#include "lm/data/prepare.h"
#include "lm/tokenize/tokenizer.h"

namespace lm::cli {
namespace {

const PrepareOptions kDefaults;

std::atomic<bool> g_stop{false};
void on_signal(int) {
  if (g_stop.exchange(true)) std::_Exit(130);  // a second Ctrl-C: stop now
}

const CommandSpec kPrepare{
    .name = "prepare",
    .summary = "tokenize a corpus (Wikipedia dump, text, JSON Lines) into train/val token shards",
    .description = "Cleans and tokenizes the documents of the inputs and writes train/val token shards and meta.json "
                   "(documents, tokens, tokenizer, dtype), plus a copy of the tokenizer. The files are written in a "
                   "temporary sibling of DIR and moved in at the end: an interrupted run (Ctrl-C, SIGTERM, an error) leaves DIR "
                   "as it was, and the next run removes temporaries of runs that were killed. DIR must not be, hold "
                   "or lie inside an input or the tokenizer, nor be a non-empty directory lmcpp did not make for "
                   "prepare (--overwrite replaces the files lmcpp wrote there).",
    .flags = {
        repeated_flag("--input", "PATH", "files or folders; .bz2 (multistream too), .gz, .zst are read directly")
            .rest()
            .required(),
        string_flag("--tokenizer", "DIR", "tokenizer directory (vocab.json+merges.txt, vocab.txt or tokenizer.json)")
            .required(),
        string_flag("--out", "DIR", "output: train_NNNNNN.bin, val_NNNNNN.bin, meta.json, tokenizer/").required(),
        choice_flag("--format", {"auto", "wikipedia", "text", "jsonl"}, "auto",
                    "input format (auto: JSON Lines by name, MediaWiki XML by content, else plain text)"),
        double_flag("--val-fraction", "F", kDefaults.val_fraction,
                    "fraction of documents for validation; a single document is split by position instead"),
        string_flag("--text-out", "FILE.jsonl", "also write the cleaned documents as {\"title\", \"text\"} lines"),
        choice_flag("--split", {"file", "blank-line"}, "file",
                    "plain text: one document per file or per blank-line block"),
        bool_flag("--skip-disambiguation", "drop Wikipedia disambiguation pages"),
        int_flag("--seed", "N", static_cast<int64_t>(kDefaults.seed), "seed of the train/val assignment"),
        int_flag("--threads", "N", kDefaults.threads, "worker threads (0: all)"),
        int_flag("--shard-tokens", "N", static_cast<int64_t>(kDefaults.shard_tokens), "tokens per shard file"),
        int_flag("--max-documents", "N", kDefaults.max_documents, "stop after N documents (-1: all)"),
        bool_flag("--quiet", "no progress line on stderr"),
        bool_flag("--json", "print meta.json as one JSON line instead of the summary: {\"format\", \"version\", "
                            "\"documents\", \"train_documents\", \"val_documents\", \"tokens\", \"train_tokens\", "
                            "\"val_tokens\", \"train_shards\", \"val_shards\", \"split\", \"val_fraction\", \"seed\", "
                            "\"tokenizer\", \"tokenizer_type\", \"tokenizer_dir\", \"vocab_size\", \"dtype\", \"eos_id\", "
                            "\"layout\", \"skipped_empty_documents\", \"input_format\", \"inputs\", \"input_bytes\", "
                            "\"text_bytes\"}"),
        choice_flag("--layout", {"auto", "tokens", "sentences"}, "auto",
                    "tokens: document ids + end-of-text, for GPT; sentences: each sentence + [SEP], one more [SEP] "
                    "per document, for BERT pretraining; auto: sentences for WordPiece tokenizers, else tokens"),
        bool_flag("--overwrite", "write into a non-empty DIR: remove the files lmcpp wrote there first"),
    },
    .examples = {
        {.command = "lmcpp prepare --input ../shared/data/tinyshakespeare/input.txt --tokenizer ../shared/data/tokenizers/gpt2 --out out/shakespeare/data"},
        {.command = "lmcpp prepare --input ../shared/data/wikipedia/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2 --tokenizer ../shared/data/tokenizers/gpt2 --out out/wikipedia/data --json",
         .comment = "a Wikipedia dump, read compressed; prints meta.json as one line"},
    },
};

int run_prepare(const Flags& f) {
  PrepareOptions o;
  o.inputs = f.all("--input");
  const std::string tok_dir = f.str("--tokenizer");
  o.out_dir = f.str("--out");
  o.format = parse_input_format(f.str("--format"));
  o.val_fraction = f.f64("--val-fraction");
  LM_CHECK(o.val_fraction >= 0 && o.val_fraction < 1, "--val-fraction must be in [0, 1), got {}", o.val_fraction);
  o.text_out = f.str("--text-out");
  o.text_split = f.str("--split") == "file" ? TextSplit::PerFile : TextSplit::PerBlankLine;
  o.seed = static_cast<uint64_t>(f.i64("--seed"));
  o.threads = static_cast<int>(f.i64("--threads"));
  const int64_t shard_tokens = f.i64("--shard-tokens");
  LM_CHECK(shard_tokens > 0, "--shard-tokens must be positive, got {}, in lmcpp prepare", shard_tokens);
  o.shard_tokens = static_cast<uint64_t>(shard_tokens);
  o.max_documents = f.i64("--max-documents");
  o.skip_disambiguation = f.on("--skip-disambiguation");
  o.progress = !f.on("--quiet");
  const bool json = f.on("--json");
  const std::string layout = f.str("--layout");
  if (o.threads > 0) set_num_threads(o.threads);  // also bounds parallel bzip2 decoding
  auto tok = load_tokenizer(tok_dir);
  o.tokenizer_name = tok_dir;
  o.layout = parse_data_layout(layout, tok->type());
  std::vector<std::pair<std::string, std::string>> inputs = {{"--tokenizer", tok_dir}};
  for (const auto& in : o.inputs) inputs.emplace_back("--input", in);
  OutDir dir({.command = "prepare", .out = o.out_dir, .inputs = inputs, .overwrite = f.on("--overwrite")});
  o.stop = &g_stop;
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  PrepareStats st;
  try {
    st = prepare_dataset(o, *tok);
  } catch (const std::exception&) {
    if (!g_stop.load()) throw;
    std::fprintf(stderr, "lmcpp: prepare interrupted; %s was left as it was\n", o.out_dir.c_str());
    return 130;
  }
  dir.keep();
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

LM_DECLARE_COMMAND(kPrepare, run_prepare);

}  // namespace
}  // namespace lm::cli
