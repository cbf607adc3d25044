// Wikitext cleaner: a fixed sequence of linear passes over the page (comments, dropped tags, templates,
// tables, links, external links, remaining tags, quotes, entities, then line structure). Nesting is resolved
// with explicit bracket matching (a stack), so the cost is linear in the page even for adversarial input.
// This file runs the sequence and holds passes 1, 2, 7 and 8 (comments and tags, quotes); the others live in
// wikitext_templates.cpp, wikitext_links.cpp and wikitext_text.cpp.
#include "lm/data/wikitext.h"

#include <algorithm>
#include <string>
#include <unordered_set>
#include <vector>

#include "lm/data/wikitext_internal.h"

namespace lm::wikitext_detail {

std::string to_lower(std::string_view s) {
  std::string o(s);
  for (char& c : o) c = lower(c);
  return o;
}

std::vector<std::string_view> split_lines(std::string_view s) {
  std::vector<std::string_view> lines;
  size_t i = 0;
  while (i <= s.size()) {
    size_t e = s.find('\n', i);
    if (e == std::string_view::npos) e = s.size();
    lines.push_back(s.substr(i, e - i));
    i = e + 1;
  }
  return lines;
}

namespace {

// Case-insensitive find of an ASCII lowercase needle.
size_t find_ci(std::string_view s, std::string_view needle, size_t from) {
  if (needle.empty()) return from;
  for (size_t i = from; i + needle.size() <= s.size(); ++i) {
    if (lower(s[i]) != needle[0]) continue;
    size_t k = 1;
    while (k < needle.size() && lower(s[i + k]) == needle[k]) ++k;
    if (k == needle.size()) return i;
  }
  return std::string_view::npos;
}

// ---- tags ----

struct Tag {
  std::string name;  // lowercase
  bool closing = false;
  bool self_closing = false;
  size_t end = 0;  // index just past '>'
};

// Parses an HTML-like tag at s[i] == '<'. Attributes may not contain '<'.
bool parse_tag(std::string_view s, size_t i, Tag& t) {
  size_t j = i + 1;
  t.closing = false;
  if (j < s.size() && s[j] == '/') {
    t.closing = true;
    ++j;
  }
  size_t nb = j;
  while (j < s.size() && (is_alpha(s[j]) || (j > nb && s[j] >= '0' && s[j] <= '9'))) ++j;
  if (j == nb || j >= s.size()) return false;
  char c = s[j];
  if (!(c == '>' || c == '/' || is_space(c) || c == '\n')) return false;
  t.name = to_lower(s.substr(nb, j - nb));
  size_t limit = std::min(s.size(), j + 2000);
  while (j < limit && s[j] != '>' && s[j] != '<') ++j;
  if (j >= limit || s[j] != '>') return false;
  t.self_closing = s[j - 1] == '/';
  t.end = j + 1;
  return true;
}

// Tags removed together with their content.
const std::unordered_set<std::string>& dropped_tags() {
  static const std::unordered_set<std::string> k = {
      "ref",          "references",     "math",        "gallery",  "timeline", "syntaxhighlight",
      "source",       "score",          "graph",       "imagemap", "mapframe", "maplink",
      "templatedata", "templatestyles", "includeonly", "chem",     "ce",       "hiero",
      "inputbox",     "categorytree",   "charinsert",  "indicator"};
  return k;
}

// Tags stripped while keeping their content.
const std::unordered_set<std::string>& kept_tags() {
  static const std::unordered_set<std::string> k = {
      "a",          "abbr",      "article", "aside",       "b",    "bdi",  "bdo",       "big",
      "blockquote", "br",        "caption", "center",      "cite", "code", "col",       "colgroup",
      "data",       "dd",        "del",     "dfn",         "div",  "dl",   "dt",        "em",
      "figcaption", "figure",    "font",    "footer",      "h1",   "h2",   "h3",        "h4",
      "h5",         "h6",        "header",  "hr",          "i",    "img",  "ins",       "kbd",
      "label",      "languages", "li",      "link",        "main", "mark", "meta",      "nav",
      "noinclude",  "nowiki",    "ol",      "onlyinclude", "p",    "poem", "pre",       "q",
      "rb",         "rp",        "rt",      "rtc",         "ruby", "s",    "samp",      "section",
      "small",      "span",      "strike",  "strong",      "sub",  "sup",  "table",     "tbody",
      "td",         "tfoot",     "th",      "thead",       "time", "tr",   "translate", "tt",
      "tvar",       "u",         "ul",      "var",         "wbr"};
  return k;
}

// Pass 1: <!-- comments -->; an unterminated comment runs to the end, as MediaWiki renders it.
std::string remove_comments(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  for (;;) {
    size_t b = s.find("<!--", i);
    if (b == std::string_view::npos) break;
    out.append(s.substr(i, b - i));
    size_t e = s.find("-->", b + 4);
    if (e == std::string_view::npos) return out;
    i = e + 3;
  }
  out.append(s.substr(i));
  return out;
}

// Pass 2: tags whose content is not article text (<ref>, <math>, <gallery>...), and the self-closing forms.
std::string remove_dropped_tags(std::string_view s) {
  const auto& drop = dropped_tags();
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  Tag t;
  while (i < s.size()) {
    size_t b = s.find('<', i);
    if (b == std::string_view::npos) break;
    out.append(s.substr(i, b - i));
    if (!parse_tag(s, b, t) || !drop.count(t.name)) {
      out += '<';
      i = b + 1;
      continue;
    }
    if (t.closing || t.self_closing) {
      i = t.end;  // stray closing tag or <ref name="x" />
      continue;
    }
    std::string close = "</" + t.name;
    size_t e = find_ci(s, close, t.end);
    while (e != std::string_view::npos) {
      size_t k = e + close.size();
      while (k < s.size() && is_space(s[k])) ++k;
      if (k < s.size() && s[k] == '>') {
        e = k + 1;
        break;
      }
      e = find_ci(s, close, e + 1);
    }
    // Unclosed: drop only the opening tag and keep the rest.
    i = e == std::string_view::npos ? t.end : e;
  }
  if (i < s.size()) out.append(s.substr(i));
  return out;
}

// Pass 7: remaining known tags stripped (content kept); <br> becomes a space.
std::string strip_tags(std::string_view s) {
  const auto& keep = kept_tags();
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  Tag t;
  while (i < s.size()) {
    size_t b = s.find('<', i);
    if (b == std::string_view::npos) break;
    out.append(s.substr(i, b - i));
    if (parse_tag(s, b, t) && (keep.count(t.name) || dropped_tags().count(t.name))) {
      if (t.name == "br" || t.name == "hr") out += ' ';
      i = t.end;
    } else {
      out += '<';
      i = b + 1;
    }
  }
  if (i < s.size()) out.append(s.substr(i));
  return out;
}

// Pass 8: '' italic, ''' bold, ''''' both.
std::string remove_quotes(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    if (s[i] != '\'') {
      out += s[i++];
      continue;
    }
    size_t j = i;
    while (j < s.size() && s[j] == '\'') ++j;
    size_t n = j - i;
    // Four quotes are usually two italic toggles around a removed template ('' {{x}} ''), not MediaWiki's
    // apostrophe + bold, so they vanish too.
    if (n == 1) {
      out += '\'';
    } else if (n > 5) {
      out.append(n - 5, '\'');
    }
    i = j;
  }
  return out;
}

}  // namespace
}  // namespace lm::wikitext_detail

namespace lm {

std::string clean_wikitext(std::string_view wikitext, const WikitextOptions& opt) {
  using namespace wikitext_detail;
  std::string s = remove_comments(wikitext);
  s = remove_dropped_tags(s);
  s = remove_templates(s);
  s = remove_tables(s);
  s = process_links(s);
  s = process_external_links(s);
  s = strip_tags(s);
  s = remove_quotes(s);
  s = decode_html_entities(s);
  return assemble(s, opt);
}

}  // namespace lm
