// Input side of `lmcpp prepare` and of the BERT example builder: input format and layout names, format
// detection, and the in-order stream of raw documents (wikitext or plain text) read from a list of files.
#include <cctype>
#include <filesystem>
#include <string>
#include <vector>

#include "lm/core/error.h"
#include "lm/data/compressed_reader.h"
#include "lm/data/prepare.h"
#include "lm/data/wiki_dump.h"

namespace lm {
namespace {
namespace fs = std::filesystem;
}  // namespace

DataLayout parse_data_layout(const std::string& s, const std::string& tokenizer_type) {
  if (s == "tokens") return DataLayout::Tokens;
  if (s == "sentences") return DataLayout::Sentences;
  LM_CHECK(s == "auto", "layout must be auto, tokens or sentences, got '{}'", s);
  return tokenizer_type == "wordpiece" ? DataLayout::Sentences : DataLayout::Tokens;
}

const char* data_layout_name(DataLayout l) { return l == DataLayout::Sentences ? "sentences" : "tokens"; }

InputFormat parse_input_format(const std::string& s) {
  if (s == "auto") return InputFormat::Auto;
  if (s == "wikipedia") return InputFormat::Wikipedia;
  if (s == "text") return InputFormat::Text;
  if (s == "jsonl") return InputFormat::Jsonl;
  LM_THROW(ErrorCode::InvalidArgument, "unknown input format '{}' (expected auto, wikipedia, text or jsonl)",
           s);
}

InputFormat detect_input_format(const std::string& path) {
  std::string name = fs::path(path).filename().string();
  for (const char* ext : {".jsonl", ".ndjson"})
    for (const char* z : {"", ".gz", ".bz2", ".zst", ".zstd"})
      if (name.ends_with(std::string(ext) + z)) return InputFormat::Jsonl;
  CompressedReader r(path);
  std::string head(4096, '\0');
  size_t got = 0;
  try {
    size_t n;
    while (got < head.size() && (n = r.read(head.data() + got, head.size() - got)) > 0) got += n;
  } catch (const Error&) {
    // A corrupt file is reported by the real reader with full context.
  }
  head.resize(got);
  size_t i = 0;
  if (head.compare(0, 3, "\xEF\xBB\xBF") == 0) i = 3;
  while (i < head.size() && std::isspace(static_cast<unsigned char>(head[i]))) ++i;
  if (head.compare(i, 5, "<?xml") == 0) {
    size_t e = head.find("?>", i);
    i = e == std::string::npos ? head.size() : e + 2;
    while (i < head.size() && std::isspace(static_cast<unsigned char>(head[i]))) ++i;
  }
  if (head.compare(i, 10, "<mediawiki") == 0) return InputFormat::Wikipedia;
  return InputFormat::Text;
}

uint64_t for_each_source_document(const std::vector<std::string>& files,
                                  const std::vector<InputFormat>& formats, TextSplit split,
                                  bool skip_disambiguation, const SourceDocumentFn& fn) {
  LM_CHECK(files.size() == formats.size(), "one format per file expected");
  SourceProgress pr;
  bool stop = false;
  for (size_t fi = 0; fi < files.size() && !stop; ++fi) {
    const std::string& f = files[fi];
    std::error_code ec;
    uint64_t fsize = fs::file_size(f, ec);
    uint64_t input_base = pr.input_bytes, parsed_base = pr.parsed_bytes;
    InputFormat fmt = formats[fi] == InputFormat::Auto ? detect_input_format(f) : formats[fi];
    if (fmt == InputFormat::Wikipedia) {
      WikiDumpOptions wo;
      wo.skip_disambiguation = skip_disambiguation;
      WikiDumpStats ws = read_wiki_dump(
          f,
          [&](const WikiPage& p, const WikiDumpStats& s) {
            pr.parsed_bytes = parsed_base + s.uncompressed_bytes;
            pr.input_bytes = input_base + s.compressed_bytes;
            stop = !fn(SourceDocument{p.title, p.text, true}, pr);
            return !stop;
          },
          wo);
      pr.parsed_bytes = parsed_base + ws.uncompressed_bytes;
    } else {
      uint64_t file_text = 0;
      // Untitled documents are named "<file>:<line>"; keep only the file's name so the train/validation split
      // (hashed from the title) does not change when the same corpus is read from another directory.
      std::string base = fs::path(f).filename().string();
      auto on_doc = [&](Document& d) {
        if (d.title.compare(0, f.size(), f) == 0) d.title = base + d.title.substr(f.size());
        file_text += d.text.size();
        pr.parsed_bytes = parsed_base + file_text;
        stop = !fn(SourceDocument{std::move(d.title), std::move(d.text), false}, pr);
        return !stop;
      };
      uint64_t n = fmt == InputFormat::Jsonl ? read_jsonl_file(f, on_doc) : read_text_file(f, split, on_doc);
      pr.parsed_bytes = parsed_base + n;
    }
    pr.input_bytes = input_base + fsize;
  }
  return pr.parsed_bytes;
}

}  // namespace lm
