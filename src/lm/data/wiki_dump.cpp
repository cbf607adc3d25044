// MediaWiki XML export reader: CompressedReader -> expat (push parser) -> per-page callback.
#include "lm/data/wiki_dump.h"

#include <expat.h>

#include <cctype>
#include <cstring>
#include <exception>

#include "lm/core/error.h"
#include "lm/data/compressed_reader.h"

namespace lm {
namespace {

bool iequals_prefix(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(s[i])) != prefix[i]) return false;
  return true;
}

std::string lower_trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  std::string out(s.substr(b, e - b));
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (char& c : out)
    if (c == '_') c = ' ';
  return out;
}

enum class Field { None, Title, Ns, Id, Text };

struct DumpParser {
  const WikiPageFn& fn;
  const WikiDumpOptions& opt;
  CompressedReader& src;
  XML_Parser xp = nullptr;
  WikiDumpStats stats;
  WikiPage page;
  int depth = 0;
  int page_depth = -1;  // depth of the open <page>, -1 outside
  bool in_revision = false;
  bool have_id = false;
  Field field = Field::None;
  std::string num;  // text of <ns>/<id>
  std::exception_ptr error;
  bool stopped = false;

  DumpParser(const WikiPageFn& f, const WikiDumpOptions& o, CompressedReader& s) : fn(f), opt(o), src(s) {}

  void start(const char* name, const char** attrs) {
    ++depth;
    if (page_depth < 0) {
      if (std::strcmp(name, "page") == 0) {
        page_depth = depth;
        page = WikiPage{};
        in_revision = false;
        have_id = false;
      }
      return;
    }
    if (depth == page_depth + 1) {
      if (std::strcmp(name, "title") == 0) {
        field = Field::Title;
      } else if (std::strcmp(name, "ns") == 0) {
        field = Field::Ns;
        num.clear();
      } else if (std::strcmp(name, "id") == 0 && !have_id) {
        field = Field::Id;
        num.clear();
      } else if (std::strcmp(name, "redirect") == 0) {
        page.redirect = true;
      } else if (std::strcmp(name, "revision") == 0) {
        in_revision = true;
      }
    } else if (depth == page_depth + 2 && in_revision && std::strcmp(name, "text") == 0) {
      field = Field::Text;
      page.text.clear();
    }
    (void)attrs;
  }

  void chars(const char* s, int len) {
    switch (field) {
      case Field::None:
        return;
      case Field::Title:
        page.title.append(s, static_cast<size_t>(len));
        return;
      case Field::Ns:
      case Field::Id:
        num.append(s, static_cast<size_t>(len));
        return;
      case Field::Text:
        if (page.text.size() + static_cast<size_t>(len) > opt.max_page_bytes)
          LM_THROW(ErrorCode::BadFormat, "page '{}' in {} exceeds {} bytes of text (uncompressed byte {})",
                   page.title, src.name(), opt.max_page_bytes, XML_GetCurrentByteIndex(xp));
        page.text.append(s, static_cast<size_t>(len));
        return;
    }
  }

  int64_t parse_int(const char* what) {
    char* end = nullptr;
    std::string t = lower_trim(num);
    long long v = std::strtoll(t.c_str(), &end, 10);
    LM_CHECK_AS(ErrorCode::BadFormat, !t.empty() && end && *end == 0,
                "bad <{}> value '{}' in {} (uncompressed byte {})", what, num, src.name(),
                XML_GetCurrentByteIndex(xp));
    return v;
  }

  void end(const char* name) {
    if (page_depth >= 0) {
      if (field == Field::Ns && depth == page_depth + 1) page.ns = parse_int("ns");
      if (field == Field::Id && depth == page_depth + 1) {
        page.id = parse_int("id");
        have_id = true;
      }
      if (depth == page_depth + 1 && std::strcmp(name, "revision") == 0) in_revision = false;
      if (depth <= page_depth + 2) field = Field::None;
      if (depth == page_depth) {
        page_depth = -1;
        finish_page();
      }
    }
    --depth;
  }

  void finish_page() {
    ++stats.pages_seen;
    if (opt.main_namespace_only && page.ns != 0) return;
    if (opt.skip_redirects) {
      if (page.redirect) return;
      std::string_view t = page.text;
      size_t i = 0;
      while (i < t.size() && std::isspace(static_cast<unsigned char>(t[i]))) ++i;
      if (iequals_prefix(t.substr(i), "#redirect")) return;
    }
    if (opt.skip_disambiguation && is_disambiguation(page.title, page.text)) return;
    ++stats.pages_emitted;
    stats.compressed_bytes = src.compressed_offset();
    stats.uncompressed_bytes = static_cast<uint64_t>(XML_GetCurrentByteIndex(xp));
    if (!fn(page, stats)) {
      stopped = true;
      XML_StopParser(xp, XML_FALSE);
    }
  }

  static void on_start(void* ud, const XML_Char* name, const XML_Char** attrs) {
    auto* p = static_cast<DumpParser*>(ud);
    try {
      p->start(name, attrs);
    } catch (...) {
      p->abort();
    }
  }
  static void on_end(void* ud, const XML_Char* name) {
    auto* p = static_cast<DumpParser*>(ud);
    try {
      p->end(name);
    } catch (...) {
      p->abort();
    }
  }
  static void on_chars(void* ud, const XML_Char* s, int len) {
    auto* p = static_cast<DumpParser*>(ud);
    try {
      p->chars(s, len);
    } catch (...) {
      p->abort();
    }
  }
  void abort() {
    if (!error) error = std::current_exception();
    XML_StopParser(xp, XML_FALSE);
  }

  [[noreturn]] void xml_fail(bool at_end) {
    XML_Error code = XML_GetErrorCode(xp);
    LM_THROW(ErrorCode::BadFormat,
             "{} XML in {}: {} at line {} column {} (uncompressed byte {}, compressed byte {})",
             at_end ? "truncated" : "malformed", src.name(), XML_ErrorString(code),
             XML_GetCurrentLineNumber(xp), XML_GetCurrentColumnNumber(xp), XML_GetCurrentByteIndex(xp),
             src.compressed_offset());
  }

  WikiDumpStats run() {
    xp = XML_ParserCreate(nullptr);
    LM_CHECK_AS(ErrorCode::OutOfMemory, xp != nullptr, "cannot create XML parser");
    struct Free {
      XML_Parser p;
      ~Free() { XML_ParserFree(p); }
    } guard{xp};
    XML_SetUserData(xp, this);
    XML_SetElementHandler(xp, on_start, on_end);
    XML_SetCharacterDataHandler(xp, on_chars);
    constexpr int kChunk = 1 << 18;
    bool any = false;
    for (;;) {
      void* buf = XML_GetBuffer(xp, kChunk);
      LM_CHECK_AS(ErrorCode::OutOfMemory, buf != nullptr, "XML buffer allocation failed");
      size_t n = src.read(static_cast<char*>(buf), kChunk);
      any = any || n > 0;
      bool last = n == 0;
      if (last && !any) LM_THROW(ErrorCode::BadFormat, "{} is empty: not a MediaWiki XML dump", src.name());
      XML_Status st = XML_ParseBuffer(xp, static_cast<int>(n), last ? XML_TRUE : XML_FALSE);
      if (error) std::rethrow_exception(error);
      if (stopped) break;
      if (st != XML_STATUS_OK) xml_fail(last);
      if (last) break;
    }
    stats.compressed_bytes = src.compressed_offset();
    stats.uncompressed_bytes = src.uncompressed_offset();
    return stats;
  }
};

}  // namespace

bool is_disambiguation(std::string_view title, std::string_view text) {
  if (title.size() >= 17 && title.substr(title.size() - 17) == "(disambiguation)") return true;
  // Look for {{disambiguation...}}, {{disambig}}, {{dab}}, {{hndis}}, {{geodis}}, {{... disambiguation}}.
  size_t pos = 0;
  while ((pos = text.find("{{", pos)) != std::string_view::npos) {
    pos += 2;
    size_t end = text.find_first_of("|}", pos);
    if (end == std::string_view::npos || end - pos > 64) continue;
    std::string name = lower_trim(text.substr(pos, end - pos));
    if (name.rfind("disambig", 0) == 0 || name == "dab" || name == "disamb" || name == "hndis" ||
        name == "geodis" || name == "numberdis" ||
        (name.size() > 15 && name.compare(name.size() - 15, 15, " disambiguation") == 0))
      return true;
  }
  return false;
}

WikiDumpStats read_wiki_dump(const std::string& path, const WikiPageFn& fn, const WikiDumpOptions& opt) {
  CompressedReader src(path);
  DumpParser p(fn, opt, src);
  return p.run();
}

WikiDumpStats read_wiki_dump_memory(std::string_view data, const std::string& name, const WikiPageFn& fn,
                                    const WikiDumpOptions& opt) {
  CompressedReader src(data, name);
  DumpParser p(fn, opt, src);
  return p.run();
}

}  // namespace lm
