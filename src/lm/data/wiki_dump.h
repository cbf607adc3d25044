// Streaming reader of MediaWiki XML exports (dumps.wikimedia.org pages-articles) over .xml, .xml.bz2 (single-
// or multistream), .xml.gz and .xml.zst, parsed with expat in fixed-size chunks: memory is bounded by the
// largest page, never by the dump. Calls back once per article page (namespace 0, not a redirect).
//
// Format (export schema 0.10+): <mediawiki> [<siteinfo>...] <page> <title/> <ns/> <id/> [<redirect
// title=""/>] <revision> <id/> ... <text xml:space="preserve">wikitext</text> </revision> </page>...
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace lm {

struct WikiPage {
  std::string title;
  int64_t ns = 0;
  int64_t id = 0;
  bool redirect = false;
  std::string text;  // raw wikitext (XML entities already decoded)
};

struct WikiDumpOptions {
  bool main_namespace_only = true;        // ns 0 only
  bool skip_redirects = true;             // <redirect/> or text starting with #REDIRECT
  bool skip_disambiguation = false;       // {{disambiguation}}-style templates or "(disambiguation)" titles
  uint64_t max_page_bytes = 64ull << 20;  // a page text larger than this is BadFormat (bounded memory)
};

struct WikiDumpStats {
  uint64_t compressed_bytes = 0;    // input bytes consumed
  uint64_t uncompressed_bytes = 0;  // XML bytes parsed
  int64_t pages_seen = 0;           // all <page> elements
  int64_t pages_emitted = 0;        // pages passed to the callback
};

// Called per kept page; return false to stop reading early. `stats` is the running count (for progress).
using WikiPageFn = std::function<bool(const WikiPage& page, const WikiDumpStats& stats)>;

// Reads a dump file. Throws NotFound, or BadFormat with the file name and byte offsets for truncated or
// corrupt compression and malformed XML.
WikiDumpStats read_wiki_dump(const std::string& path, const WikiPageFn& fn, const WikiDumpOptions& opt = {});
// Same over an in-memory (possibly compressed) buffer; `name` is used in error messages.
WikiDumpStats read_wiki_dump_memory(std::string_view data, const std::string& name, const WikiPageFn& fn,
                                    const WikiDumpOptions& opt = {});

// True when the wikitext or title marks a disambiguation page.
bool is_disambiguation(std::string_view title, std::string_view wikitext);

}  // namespace lm
