// Document sources other than Wikipedia dumps: plain text files or folders (one document per file, or per
// blank-line-separated block) and JSON Lines with a "text" field. Files may be gzip/bzip2/zstd compressed
// (detected from their first bytes). Text must be UTF-8; errors name the file and line.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace lm {

struct Document {
  std::string title;  // JSONL "title" when present, else "<file>" or "<file>:<line>"
  std::string text;
};

// Return false to stop reading.
using DocumentFn = std::function<bool(Document& doc)>;

enum class TextSplit { PerFile, PerBlankLine };

// Expands folders recursively (sorted names, hidden files skipped) into a sorted, deterministic file list.
std::vector<std::string> expand_inputs(const std::vector<std::string>& paths);

// Reads plain text. PerFile: the whole file is one document (a trailing newline is kept as is).
// PerBlankLine: runs of non-blank lines form documents (lines joined with "\n"). Empty documents are skipped.
// Returns the number of input bytes read (uncompressed).
uint64_t read_text_file(const std::string& path, TextSplit split, const DocumentFn& fn);

// Reads JSON Lines: one object per non-empty line with a string field `text_field` (and optional "title").
// Bad JSON, invalid UTF-8, a non-object line or a missing field is BadFormat naming "<file>:<line>".
uint64_t read_jsonl_file(const std::string& path, const DocumentFn& fn,
                         const std::string& text_field = "text");

// Index of the first byte that breaks UTF-8 (overlongs, surrogates and > U+10FFFF included), or npos.
size_t find_invalid_utf8(std::string_view s);

}  // namespace lm
