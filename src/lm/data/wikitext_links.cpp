// Wikitext cleaner, passes 5 and 6: [[wiki links]] reduced to the text they show (files, categories and
// interlanguage links dropped; nesting matched with a stack) and [external links] reduced to their label.
#include <cstdint>
#include <cstring>
#include <string>
#include <unordered_set>
#include <vector>

#include "lm/data/wikitext_internal.h"

namespace lm::wikitext_detail {
namespace {

bool is_interwiki_keep(const std::string& p) {
  static const std::unordered_set<std::string> k = {"wikt",        "wiktionary",
                                                    "w",           "wikipedia",
                                                    "commons",     "s",
                                                    "wikisource",  "q",
                                                    "wikiquote",   "b",
                                                    "wikibooks",   "n",
                                                    "wikinews",    "v",
                                                    "wikiversity", "species",
                                                    "wikispecies", "meta",
                                                    "m",           "mw",
                                                    "d",           "wikidata",
                                                    "voy",         "wikivoyage",
                                                    "c",           "metawikimedia",
                                                    "foundation",  "wmf",
                                                    "iarchive",    "doi",
                                                    "arxiv",       "google",
                                                    "imdbname"};
  return k.count(p) > 0;
}

// Language-code-like prefix: lowercase ASCII letters and '-', 2..12 chars ("de", "zh-min-nan", "simple").
bool is_language_prefix(std::string_view p) {
  if (p.size() < 2 || p.size() > 12) return false;
  for (char c : p)
    if (!((c >= 'a' && c <= 'z') || c == '-')) return false;
  return true;
}

// Text shown for the inside of one [[...]] link.
std::string link_text(std::string_view inner) {
  size_t bar = inner.find('|');
  std::string_view target = trim(inner.substr(0, bar));
  bool has_label = bar != std::string_view::npos;
  std::string_view label = has_label ? inner.substr(bar + 1) : std::string_view();
  bool leading_colon = !target.empty() && target[0] == ':';
  if (leading_colon) target = trim(target.substr(1));
  size_t colon = target.find(':');
  if (colon != std::string_view::npos) {
    std::string_view raw_prefix = trim(target.substr(0, colon));
    std::string prefix = to_lower(raw_prefix);
    if (!leading_colon) {
      if (prefix == "file" || prefix == "image" || prefix == "category" || prefix == "media") return "";
      if (!is_interwiki_keep(prefix) && raw_prefix == prefix && is_language_prefix(prefix)) return "";
    }
  }
  if (has_label) {
    std::string_view l = trim(label);
    if (!l.empty()) return process_links(l);
    // Pipe trick: [[Paris, Texas|]] -> "Paris"; [[Help:Foo (bar)|]] -> "Foo".
    std::string_view t = target;
    if (colon != std::string_view::npos) t = trim(t.substr(colon + 1));
    size_t p = t.find(" (");
    if (p != std::string_view::npos) t = t.substr(0, p);
    size_t c = t.find(',');
    if (c != std::string_view::npos) t = t.substr(0, c);
    return std::string(trim(t));
  }
  if (!target.empty() && target[0] == '#') target = target.substr(1);
  return std::string(target);
}

}  // namespace

// Pass 5: [[wiki links]] with nesting (captions of files hold links).
std::string process_links(std::string_view s) {
  if (s.find("[[") == std::string_view::npos && s.find("]]") == std::string_view::npos) return std::string(s);
  std::vector<int64_t> match(s.size(), -1);
  std::vector<size_t> stack;
  for (size_t i = 0; i + 1 < s.size();) {
    if (s[i] == '[' && s[i + 1] == '[') {
      stack.push_back(i);
      i += 2;
    } else if (s[i] == ']' && s[i + 1] == ']' && !stack.empty()) {
      match[stack.back()] = static_cast<int64_t>(i);
      stack.pop_back();
      i += 2;
    } else {
      ++i;
    }
  }
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    if (i + 1 < s.size() && s[i] == '[' && s[i + 1] == '[') {
      if (match[i] >= 0) {
        size_t e = static_cast<size_t>(match[i]);
        out += link_text(s.substr(i + 2, e - i - 2));
        i = e + 2;
      } else {
        i += 2;
      }
      continue;
    }
    if (i + 1 < s.size() && s[i] == ']' && s[i + 1] == ']') {
      i += 2;
      continue;
    }
    out += s[i++];
  }
  return out;
}

// Pass 6: [http://example.org label] -> label; a bare [http://example.org] disappears.
std::string process_external_links(std::string_view s) {
  static const char* kProtocols[] = {"http://", "https://",  "ftp://",  "ftps://", "sftp://",      "//",
                                     "mailto:", "news:",     "irc://",  "ircs://", "gopher://",    "git://",
                                     "svn://",  "telnet://", "nntp://", "urn:",    "worldwind://", "geo:"};
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    size_t b = s.find('[', i);
    if (b == std::string_view::npos) break;
    out.append(s.substr(i, b - i));
    bool is_url = false;
    for (const char* p : kProtocols) {
      size_t n = std::strlen(p);
      if (b + 1 + n <= s.size()) {
        bool eq = true;
        for (size_t k = 0; k < n && eq; ++k) eq = lower(s[b + 1 + k]) == p[k];
        if (eq) {
          is_url = true;
          break;
        }
      }
    }
    size_t e = is_url ? s.find_first_of("]\n", b + 1) : std::string_view::npos;
    if (!is_url || e == std::string_view::npos || s[e] != ']') {
      out += '[';
      i = b + 1;
      continue;
    }
    std::string_view inner = s.substr(b + 1, e - b - 1);
    size_t sp = inner.find_first_of(" \t");
    if (sp != std::string_view::npos) out.append(trim(inner.substr(sp + 1)));
    i = e + 1;
  }
  if (i < s.size()) out.append(s.substr(i));
  return out;
}

}  // namespace lm::wikitext_detail
