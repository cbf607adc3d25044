// Plain-text and JSON Lines document readers over CompressedReader, line by line with bounded buffers.
#include "lm/data/text_input.h"

#include <algorithm>
#include <filesystem>

#include "lm/core/error.h"
#include "lm/core/json.h"
#include "lm/data/compressed_reader.h"

namespace lm {
namespace {

namespace fs = std::filesystem;

// Splits the decompressed stream into lines ("\n" removed, "\r" kept); bounded by the longest line.
class LineReader {
 public:
  explicit LineReader(const std::string& path) : src_(path) {}
  bool next(std::string& line) {
    line.clear();
    for (;;) {
      size_t nl = buf_.find('\n', pos_);
      if (nl != std::string::npos) {
        line.append(buf_, pos_, nl - pos_);
        pos_ = nl + 1;
        ++line_no_;
        return true;
      }
      line.append(buf_, pos_, std::string::npos);
      buf_.resize(1 << 16);
      size_t n = src_.read(buf_.data(), buf_.size());
      buf_.resize(n);
      pos_ = 0;
      if (n == 0) {
        if (line.empty()) return false;
        ++line_no_;
        return true;
      }
    }
  }
  int64_t line_no() const { return line_no_; }
  uint64_t bytes() const { return src_.uncompressed_offset(); }
  CompressedReader& source() { return src_; }

 private:
  CompressedReader src_;
  std::string buf_;
  size_t pos_ = 0;
  int64_t line_no_ = 0;
};

bool blank(std::string_view l) {
  return std::all_of(l.begin(), l.end(), [](char c) { return c == ' ' || c == '\t' || c == '\r'; });
}

void check_utf8(std::string_view s, const std::string& path, int64_t line) {
  size_t bad = find_invalid_utf8(s);
  LM_CHECK_AS(ErrorCode::BadFormat, bad == std::string_view::npos, "invalid UTF-8 in {}:{} at column {}",
              path, line, bad + 1);
}

}  // namespace

size_t find_invalid_utf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  size_t n = s.size(), i = 0;
  while (i < n) {
    unsigned char c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return i;
    }
    if (i + len > n) return i;
    for (size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    static const uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
    i += len;
  }
  return std::string_view::npos;
}

std::vector<std::string> expand_inputs(const std::vector<std::string>& paths) {
  std::vector<std::string> out;
  for (const auto& p : paths) {
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      std::vector<std::string> files;
      for (auto it = fs::recursive_directory_iterator(p, fs::directory_options::follow_directory_symlink, ec);
           !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        std::string name = it->path().filename().string();
        if (!name.empty() && name[0] == '.') {
          if (it->is_directory()) it.disable_recursion_pending();
          continue;
        }
        if (it->is_regular_file()) files.push_back(it->path().string());
      }
      LM_CHECK(!ec, "cannot list {}: {}", p, ec.message());
      std::sort(files.begin(), files.end());
      LM_CHECK_AS(ErrorCode::NotFound, !files.empty(), "folder {} holds no files", p);
      out.insert(out.end(), files.begin(), files.end());
    } else {
      LM_CHECK_AS(ErrorCode::NotFound, fs::exists(p, ec), "input {} not found", p);
      out.push_back(p);
    }
  }
  return out;
}

uint64_t read_text_file(const std::string& path, TextSplit split, const DocumentFn& fn) {
  LineReader r(path);
  std::string line;
  Document doc;
  doc.title = path;
  bool stop = false;
  int64_t block_start = 0;
  auto emit = [&]() {
    if (!doc.text.empty() && !blank(doc.text)) stop = !fn(doc);
    doc.text.clear();
  };
  bool first = true;
  while (!stop && r.next(line)) {
    check_utf8(line, path, r.line_no());
    if (split == TextSplit::PerFile) {
      if (!first) doc.text += '\n';
      doc.text += line;
      first = false;
      continue;
    }
    if (blank(line)) {
      emit();
      continue;
    }
    if (doc.text.empty()) {
      block_start = r.line_no();
      doc.title = path + ":" + std::to_string(block_start);
    } else {
      doc.text += '\n';
    }
    doc.text += line;
  }
  // PerFile keeps the file's final newline, so the text is the file's bytes.
  if (!stop && split == TextSplit::PerFile && r.bytes() > 0) {
    // LineReader dropped the last "\n" if the file ended with one.
    // Re-add it: the file length tells whether it was there.
    if (doc.text.size() + 1 == r.bytes()) doc.text += '\n';
  }
  if (!stop) emit();
  return r.bytes();
}

uint64_t read_jsonl_file(const std::string& path, const DocumentFn& fn, const std::string& text_field) {
  LineReader r(path);
  std::string line;
  Document doc;
  while (r.next(line)) {
    if (blank(line)) continue;
    int64_t ln = r.line_no();
    check_utf8(line, path, ln);
    Json j;
    try {
      j = Json::parse(line);
    } catch (const Json::exception& e) {
      LM_THROW(ErrorCode::BadFormat, "invalid JSON in {}:{}: {}", path, ln, e.what());
    }
    LM_CHECK_AS(ErrorCode::BadFormat, j.is_object(), "{}:{}: expected a JSON object per line", path, ln);
    auto it = j.find(text_field);
    LM_CHECK_AS(ErrorCode::BadFormat, it != j.end() && it->is_string(), "{}:{}: no string field \"{}\"", path,
                ln, text_field);
    doc.text = it->get<std::string>();
    auto t = j.find("title");
    doc.title = t != j.end() && t->is_string() ? t->get<std::string>() : path + ":" + std::to_string(ln);
    if (!fn(doc)) break;
  }
  return r.bytes();
}

}  // namespace lm
