// Wikitext cleaner: a fixed sequence of linear passes over the page (comments, dropped tags, templates,
// tables, links, external links, remaining tags, quotes, entities, then line structure). Nesting is resolved
// with explicit bracket matching (a stack), so the cost is linear in the page even for adversarial input.
#include "lm/data/wikitext.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace lm {
namespace {

inline char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }
inline bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
inline bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; }

std::string to_lower(std::string_view s) {
  std::string o(s);
  for (char& c : o) c = lower(c);
  return o;
}

std::string_view trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && (is_space(s[b]) || s[b] == '\n')) ++b;
  while (e > b && (is_space(s[e - 1]) || s[e - 1] == '\n')) --e;
  return s.substr(b, e - b);
}

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

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
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

// Splits template content at top-level '|' (not inside nested {{ }} or [[ ]]).
std::vector<std::string_view> split_params(std::string_view s) {
  std::vector<std::string_view> parts;
  int depth_brace = 0, depth_link = 0;
  size_t start = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '{')
      ++depth_brace;
    else if (c == '}' && depth_brace > 0)
      --depth_brace;
    else if (c == '[' && i + 1 < s.size() && s[i + 1] == '[') {
      ++depth_link;
      ++i;
    } else if (c == ']' && i + 1 < s.size() && s[i + 1] == ']' && depth_link > 0) {
      --depth_link;
      ++i;
    } else if (c == '|' && depth_brace == 0 && depth_link == 0) {
      parts.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  parts.push_back(s.substr(start));
  return parts;
}

std::string remove_templates(std::string_view s);
thread_local int render_depth = 0;  // bounds recursion on adversarial nesting

// Positional parameters (those without a top-level '=') of a template, trimmed.
std::vector<std::string_view> positional(const std::vector<std::string_view>& parts) {
  std::vector<std::string_view> out;
  for (size_t i = 1; i < parts.size(); ++i) {
    std::string_view p = parts[i];
    size_t eq = p.find('=');
    size_t br = p.find_first_of("{[");
    if (eq != std::string_view::npos && (br == std::string_view::npos || eq < br)) continue;
    out.push_back(trim(p));
  }
  return out;
}

// The few inline templates whose text belongs to the sentence ({{convert|5|km}} -> "5 km", {{lang|fr|oui}}
// -> "oui", {{nowrap|...}}, dashes); every other template renders to nothing, as in WikiExtractor's default.
std::string render_template(std::string_view inner) {
  struct Depth {
    Depth() { ++render_depth; }
    ~Depth() { --render_depth; }
  } depth_guard;
  auto parts = split_params(inner);
  std::string name = to_lower(trim(parts[0]));
  for (char& c : name)
    if (c == '_') c = ' ';
  auto pos = positional(parts);
  auto arg = [&](size_t i) { return i < pos.size() ? remove_templates(pos[i]) : std::string(); };
  if (name == "convert" || name == "cvt") {
    if (pos.size() >= 4 && (pos[1] == "-" || pos[1] == "to" || pos[1] == "and" || pos[1] == "–" ||
                            pos[1] == "or" || pos[1] == "x" || pos[1] == "by")) {
      std::string r = arg(0);
      if (pos[1] == "-" || pos[1] == "–") {
        r.append("–");
      } else {
        r.push_back(' ');
        r.append(pos[1]);
        r.push_back(' ');
      }
      r.append(arg(2));
      r.push_back(' ');
      r.append(arg(3));
      return r;
    }
    if (pos.size() >= 2) return arg(0) + " " + arg(1);
    return arg(0);
  }
  if (name == "lang" || name == "transl" || name == "transliteration")
    return pos.size() >= 2 ? arg(pos.size() - 1) : "";
  if (name == "nowrap" || name == "nobr" || name == "small" || name == "smaller" || name == "big" ||
      name == "sc" || name == "smallcaps" || name == "em" || name == "strong" || name == "nobold" ||
      name == "noitalic" || name == "ill" || name == "interlanguage link" || name == "proper name" ||
      name == "visible anchor" || name == "vanchor" || name == "keypress" || name == "abbr" ||
      name == "nihongo" || name == "math" || name == "mvar" || name == "var" || name == "small caps" ||
      name == "section link" || name == "linktext" || name == "sic" || name == "not a typo")
    return arg(0);
  if (name == "quote" || name == "blockquote" || name == "cquote" || name == "quotation" ||
      name == "quote box") {
    // The quoted text is article content: |text= / |quote= or the first positional parameter.
    for (size_t i = 1; i < parts.size(); ++i) {
      std::string_view p = trim(parts[i]);
      for (std::string_view key : {"text", "quote"}) {
        if (p.size() > key.size() && p.substr(0, key.size()) == key) {
          std::string_view rest = trim(p.substr(key.size()));
          if (!rest.empty() && rest[0] == '=') return remove_templates(trim(rest.substr(1)));
        }
      }
    }
    return arg(0);
  }
  if (name == "frac" || name == "sfrac") {
    if (pos.size() >= 3) return arg(0) + " " + arg(1) + "/" + arg(2);
    if (pos.size() == 2) return arg(0) + "/" + arg(1);
    return pos.size() == 1 ? "1/" + arg(0) : "";
  }
  if (name == "val") {
    std::string v = arg(0);
    for (size_t i = 1; i < parts.size(); ++i) {
      std::string_view p = trim(parts[i]);
      if (p.substr(0, 2) == "u=" || p.substr(0, 3) == "ul=") {
        v += ' ';
        v += remove_templates(trim(p.substr(p.find('=') + 1)));
      }
    }
    return v;
  }
  if (name == "circa" || name == "c.") return pos.empty() ? "c." : "c. " + arg(0);
  if (name == "as of") {
    bool lower_case = false;
    for (size_t i = 1; i < parts.size(); ++i) {
      std::string_view p = trim(parts[i]);
      lower_case = lower_case || p == "lc=y" || p == "lc=yes" || p == "lc=on";
    }
    return pos.empty() ? "" : (lower_case ? "as of " : "As of ") + arg(0);
  }
  if (name == "ndash" || name == "en dash") return "–";
  if (name == "mdash" || name == "em dash") return "—";
  if (name == "snd" || name == "spaced ndash" || name == "spnd" || name == "sndash") return " – ";
  if (name == "spaced mdash" || name == "spmd") return " — ";
  if (name == "nbsp" || name == "space" || name == "sp") return " ";
  if (name == "'") return "'";
  if (name == "\"") return "\"";
  return "";
}

// Pass 3: templates, parser functions and parameters: "{{" up to its matching close, counting single braces
// so that {{{param}}} and braces inside templates nest correctly.
std::string remove_templates(std::string_view s) {
  if (s.find("{{") == std::string_view::npos && s.find("}}") == std::string_view::npos) return std::string(s);
  std::vector<int64_t> match(s.size(), -1);
  std::vector<size_t> stack;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '{') {
      stack.push_back(i);
    } else if (s[i] == '}' && !stack.empty()) {
      match[stack.back()] = static_cast<int64_t>(i);
      stack.pop_back();
    }
  }
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    if (s[i] == '{' && i + 1 < s.size() && s[i + 1] == '{') {
      if (match[i] >= 0) {
        size_t e = static_cast<size_t>(match[i]);
        // Exactly "{{...}}" (not "{{{param}}}"): maybe an inline template worth rendering.
        if (e >= i + 3 && s[i + 2] != '{' && render_depth < 32 && s[e - 1] == '}' &&
            match[i + 1] == static_cast<int64_t>(e - 1))
          out += render_template(s.substr(i + 2, e - 1 - (i + 2)));
        i = e + 1;
      } else {
        i += 2;  // unbalanced opener: drop the braces only
      }
      continue;
    }
    if (s[i] == '}' && i + 1 < s.size() && s[i + 1] == '}') {
      i += 2;  // stray closer
      continue;
    }
    out += s[i++];
  }
  return out;
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

// Line starts with `tok` after optional indentation (spaces and ':').
bool line_starts(std::string_view line, std::string_view tok) {
  size_t i = 0;
  while (i < line.size() && (is_space(line[i]) || line[i] == ':')) ++i;
  return line.substr(i, tok.size()) == tok;
}

// Pass 4: tables {| ... |} (nested) removed by line. An unclosed table loses only its opening line; the
// residue filter later drops its "|"-lines.
std::string remove_tables(std::string_view s) {
  if (s.find("{|") == std::string_view::npos) return std::string(s);
  auto lines = split_lines(s);
  std::string out;
  out.reserve(s.size());
  size_t n = lines.size();
  // Matching close line for each opening line, via a stack (linear).
  std::vector<int64_t> close(n, -1);
  std::vector<size_t> stack;
  for (size_t i = 0; i < n; ++i) {
    if (line_starts(lines[i], "{|")) {
      stack.push_back(i);
    } else if (line_starts(lines[i], "|}") && !stack.empty()) {
      close[stack.back()] = static_cast<int64_t>(i);
      stack.pop_back();
    }
  }
  for (size_t i = 0; i < n; ++i) {
    if (line_starts(lines[i], "{|")) {
      if (close[i] >= 0) i = static_cast<size_t>(close[i]);
      out += '\n';
      continue;
    }
    out.append(lines[i]);
    if (i + 1 < n) out += '\n';
  }
  return out;
}

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

std::string process_links(std::string_view s);

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

const std::unordered_map<std::string, uint32_t>& entity_table() {
  static const std::unordered_map<std::string, uint32_t> k = {
      {"amp", '&'},       {"lt", '<'},        {"gt", '>'},        {"quot", '"'},       {"apos", '\''},
      {"nbsp", ' '},      {"ensp", ' '},      {"emsp", ' '},      {"thinsp", ' '},     {"zwj", 0x200D},
      {"zwnj", 0x200C},   {"lrm", 0x200E},    {"rlm", 0x200F},    {"shy", 0xAD},       {"ndash", 0x2013},
      {"mdash", 0x2014},  {"minus", 0x2212},  {"hyphen", 0x2010}, {"lsquo", 0x2018},   {"rsquo", 0x2019},
      {"sbquo", 0x201A},  {"ldquo", 0x201C},  {"rdquo", 0x201D},  {"bdquo", 0x201E},   {"laquo", 0xAB},
      {"raquo", 0xBB},    {"lsaquo", 0x2039}, {"rsaquo", 0x203A}, {"hellip", 0x2026},  {"middot", 0xB7},
      {"bull", 0x2022},   {"prime", 0x2032},  {"Prime", 0x2033},  {"times", 0xD7},     {"divide", 0xF7},
      {"deg", 0xB0},      {"plusmn", 0xB1},   {"copy", 0xA9},     {"reg", 0xAE},       {"trade", 0x2122},
      {"euro", 0x20AC},   {"pound", 0xA3},    {"yen", 0xA5},      {"cent", 0xA2},      {"curren", 0xA4},
      {"sect", 0xA7},     {"para", 0xB6},     {"dagger", 0x2020}, {"Dagger", 0x2021},  {"permil", 0x2030},
      {"frac12", 0xBD},   {"frac14", 0xBC},   {"frac34", 0xBE},   {"sup1", 0xB9},      {"sup2", 0xB2},
      {"sup3", 0xB3},     {"micro", 0xB5},    {"iexcl", 0xA1},    {"iquest", 0xBF},    {"ordf", 0xAA},
      {"ordm", 0xBA},     {"not", 0xAC},      {"macr", 0xAF},     {"cedil", 0xB8},     {"acute", 0xB4},
      {"uml", 0xA8},      {"brvbar", 0xA6},   {"larr", 0x2190},   {"uarr", 0x2191},    {"rarr", 0x2192},
      {"darr", 0x2193},   {"harr", 0x2194},   {"lArr", 0x21D0},   {"rArr", 0x21D2},    {"hArr", 0x21D4},
      {"le", 0x2264},     {"ge", 0x2265},     {"ne", 0x2260},     {"asymp", 0x2248},   {"equiv", 0x2261},
      {"infin", 0x221E},  {"sum", 0x2211},    {"prod", 0x220F},   {"radic", 0x221A},   {"int", 0x222B},
      {"part", 0x2202},   {"nabla", 0x2207},  {"isin", 0x2208},   {"notin", 0x2209},   {"cap", 0x2229},
      {"cup", 0x222A},    {"and", 0x2227},    {"or", 0x2228},     {"sub", 0x2282},     {"sup", 0x2283},
      {"empty", 0x2205},  {"forall", 0x2200}, {"exist", 0x2203},  {"sim", 0x223C},     {"prop", 0x221D},
      {"ang", 0x2220},    {"there4", 0x2234}, {"sdot", 0x22C5},   {"lowast", 0x2217},  {"oplus", 0x2295},
      {"otimes", 0x2297}, {"perp", 0x22A5},   {"loz", 0x25CA},    {"spades", 0x2660},  {"clubs", 0x2663},
      {"hearts", 0x2665}, {"diams", 0x2666},  {"oline", 0x203E},  {"frasl", 0x2044},   {"Agrave", 0xC0},
      {"Aacute", 0xC1},   {"Acirc", 0xC2},    {"Atilde", 0xC3},   {"Auml", 0xC4},      {"Aring", 0xC5},
      {"AElig", 0xC6},    {"Ccedil", 0xC7},   {"Egrave", 0xC8},   {"Eacute", 0xC9},    {"Ecirc", 0xCA},
      {"Euml", 0xCB},     {"Igrave", 0xCC},   {"Iacute", 0xCD},   {"Icirc", 0xCE},     {"Iuml", 0xCF},
      {"ETH", 0xD0},      {"Ntilde", 0xD1},   {"Ograve", 0xD2},   {"Oacute", 0xD3},    {"Ocirc", 0xD4},
      {"Otilde", 0xD5},   {"Ouml", 0xD6},     {"Oslash", 0xD8},   {"Ugrave", 0xD9},    {"Uacute", 0xDA},
      {"Ucirc", 0xDB},    {"Uuml", 0xDC},     {"Yacute", 0xDD},   {"THORN", 0xDE},     {"szlig", 0xDF},
      {"agrave", 0xE0},   {"aacute", 0xE1},   {"acirc", 0xE2},    {"atilde", 0xE3},    {"auml", 0xE4},
      {"aring", 0xE5},    {"aelig", 0xE6},    {"ccedil", 0xE7},   {"egrave", 0xE8},    {"eacute", 0xE9},
      {"ecirc", 0xEA},    {"euml", 0xEB},     {"igrave", 0xEC},   {"iacute", 0xED},    {"icirc", 0xEE},
      {"iuml", 0xEF},     {"eth", 0xF0},      {"ntilde", 0xF1},   {"ograve", 0xF2},    {"oacute", 0xF3},
      {"ocirc", 0xF4},    {"otilde", 0xF5},   {"ouml", 0xF6},     {"oslash", 0xF8},    {"ugrave", 0xF9},
      {"uacute", 0xFA},   {"ucirc", 0xFB},    {"uuml", 0xFC},     {"yacute", 0xFD},    {"thorn", 0xFE},
      {"yuml", 0xFF},     {"OElig", 0x152},   {"oelig", 0x153},   {"Scaron", 0x160},   {"scaron", 0x161},
      {"Yuml", 0x178},    {"fnof", 0x192},    {"circ", 0x2C6},    {"tilde", 0x2DC},    {"Alpha", 0x391},
      {"Beta", 0x392},    {"Gamma", 0x393},   {"Delta", 0x394},   {"Epsilon", 0x395},  {"Zeta", 0x396},
      {"Eta", 0x397},     {"Theta", 0x398},   {"Iota", 0x399},    {"Kappa", 0x39A},    {"Lambda", 0x39B},
      {"Mu", 0x39C},      {"Nu", 0x39D},      {"Xi", 0x39E},      {"Omicron", 0x39F},  {"Pi", 0x3A0},
      {"Rho", 0x3A1},     {"Sigma", 0x3A3},   {"Tau", 0x3A4},     {"Upsilon", 0x3A5},  {"Phi", 0x3A6},
      {"Chi", 0x3A7},     {"Psi", 0x3A8},     {"Omega", 0x3A9},   {"alpha", 0x3B1},    {"beta", 0x3B2},
      {"gamma", 0x3B3},   {"delta", 0x3B4},   {"epsilon", 0x3B5}, {"zeta", 0x3B6},     {"eta", 0x3B7},
      {"theta", 0x3B8},   {"iota", 0x3B9},    {"kappa", 0x3BA},   {"lambda", 0x3BB},   {"mu", 0x3BC},
      {"nu", 0x3BD},      {"xi", 0x3BE},      {"omicron", 0x3BF}, {"pi", 0x3C0},       {"rho", 0x3C1},
      {"sigmaf", 0x3C2},  {"sigma", 0x3C3},   {"tau", 0x3C4},     {"upsilon", 0x3C5},  {"phi", 0x3C6},
      {"chi", 0x3C7},     {"psi", 0x3C8},     {"omega", 0x3C9},   {"thetasym", 0x3D1}, {"piv", 0x3D6}};
  return k;
}

const std::unordered_set<std::string>& reference_sections() {
  static const std::unordered_set<std::string> k = {
      "references",           "external links", "see also",      "further reading", "notes",
      "bibliography",         "sources",        "footnotes",     "citations",       "notes and references",
      "references and notes", "works cited",    "external link", "reference",       "note",
      "general references",   "cited sources"};
  return k;
}

bool is_list_marker(char c) { return c == '*' || c == '#' || c == ':' || c == ';'; }

// Collapses whitespace runs, trims, and tidies punctuation left behind by removed templates: "()" "( , )"
// and a space before , . ; : ) disappear.
std::string tidy_line(std::string_view s) {
  std::string a;
  a.reserve(s.size());
  for (char c : s) {
    if (is_space(c)) {
      if (!a.empty() && a.back() != ' ') a += ' ';
    } else {
      a += c;
    }
  }
  // Remove magic words __TOC__, __NOTOC__ ...
  for (size_t p = a.find("__"); p != std::string::npos; p = a.find("__", p)) {
    size_t q = p + 2;
    while (q < a.size() && a[q] >= 'A' && a[q] <= 'Z') ++q;
    if (q > p + 2 && q + 1 < a.size() + 1 && a.compare(q, 2, "__") == 0) {
      a.erase(p, q + 2 - p);
    } else {
      p += 2;
    }
  }
  std::string b;
  b.reserve(a.size());
  for (size_t i = 0; i < a.size(); ++i) {
    char c = a[i];
    if (c == '(') {
      // Empty or punctuation-only parentheses.
      size_t j = i + 1;
      while (j < a.size() && (a[j] == ' ' || a[j] == ',' || a[j] == ';' || a[j] == ':')) ++j;
      if (j < a.size() && a[j] == ')') {
        while (!b.empty() && b.back() == ' ') b.pop_back();
        i = j;
        continue;
      }
      b += c;
      // "( text" -> "(text" (a leading removed template)
      size_t k = i + 1;
      while (k < a.size() && (a[k] == ' ' || a[k] == ',' || a[k] == ';')) ++k;
      if (k > i + 1 && k < a.size() && a[k] != ')') i = k - 1;
      continue;
    }
    if ((c == ',' || c == '.' || c == ';' || c == ':' || c == ')') && !b.empty() && b.back() == ' ')
      b.pop_back();
    if (c == ' ' && !b.empty() && b.back() == ' ') continue;
    b += c;
  }
  std::string_view t = trim(b);
  return std::string(t);
}

struct Line {
  enum Kind { Text, Item, Heading } kind;
  int level = 0;
  std::string text;
};

// Pass 10: paragraphs (joined lines), list items, headings; empty and reference sections dropped.
std::string assemble(std::string_view s, const WikitextOptions& opt) {
  std::vector<Line> lines;
  std::string para;
  auto flush_para = [&]() {
    std::string t = tidy_line(para);
    para.clear();
    if (!t.empty()) lines.push_back({Line::Text, 0, std::move(t)});
  };
  for (std::string_view raw : split_lines(s)) {
    std::string_view l = trim(raw);
    if (l.empty()) {
      flush_para();
      continue;
    }
    // Table/markup residue and horizontal rules.
    if (l[0] == '|' || l.substr(0, 2) == "{|" || l.substr(0, 4) == "----" ||
        (l[0] == '!' && (l.size() == 1 || l[1] == ' ' || l[1] == '!' || l[1] == '|'))) {
      flush_para();
      continue;
    }
    if (l[0] == '=' && l.size() >= 2 && l.back() == '=') {
      size_t a = 0, b = 0;
      while (a < l.size() && l[a] == '=') ++a;
      while (b < l.size() - a && l[l.size() - 1 - b] == '=') ++b;
      int level = static_cast<int>(std::min(a, b));
      if (level >= 1 && a < l.size()) {
        flush_para();
        std::string_view inner =
            l.substr(static_cast<size_t>(level), l.size() - 2 * static_cast<size_t>(level));
        std::string t = tidy_line(inner);
        if (!t.empty()) lines.push_back({Line::Heading, level, std::move(t)});
        continue;
      }
    }
    if (is_list_marker(l[0])) {
      flush_para();
      size_t k = 0;
      while (k < l.size() && is_list_marker(l[k])) ++k;
      std::string t = tidy_line(l.substr(k));
      // An item reduced to a parenthesis ("(UK)" after its template went) is residue.
      bool residue = t.size() >= 2 && t.front() == '(' && t.back() == ')' && t.find(')') == t.size() - 1;
      if (!t.empty() && !residue && opt.keep_lists) lines.push_back({Line::Item, 0, std::move(t)});
      continue;
    }
    if (!para.empty()) para += ' ';
    para.append(l);
  }
  flush_para();

  // Headings wait in `pending` until content arrives; a heading of the same or a higher level (or the end)
  // discards the ones waiting at that depth. Reference-like sections are skipped with their subsections.
  std::string out;
  std::vector<const Line*> pending;
  int skip_level = 0;  // > 0 while inside a dropped section of that level
  const auto& refs = reference_sections();
  for (const Line& ln : lines) {
    if (ln.kind == Line::Heading) {
      if (skip_level > 0 && ln.level > skip_level) continue;
      skip_level = 0;
      while (!pending.empty() && pending.back()->level >= ln.level) pending.pop_back();
      if (opt.drop_reference_sections && refs.count(to_lower(ln.text))) {
        skip_level = ln.level;
        continue;
      }
      pending.push_back(&ln);
      continue;
    }
    if (skip_level > 0) continue;
    if (opt.keep_headings) {
      for (const Line* h : pending) {
        out.append(h->text);
        out += '\n';
      }
    }
    pending.clear();
    out.append(ln.text);
    out += '\n';
  }
  if (!out.empty()) out.pop_back();
  return out;
}

}  // namespace

std::string decode_html_entities(std::string_view s) {
  if (s.find('&') == std::string_view::npos) return std::string(s);
  const auto& table = entity_table();
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    if (s[i] != '&') {
      out += s[i++];
      continue;
    }
    size_t semi = s.find(';', i + 1);
    if (semi == std::string_view::npos || semi - i > 12 || semi == i + 1) {
      out += s[i++];
      continue;
    }
    std::string_view name = s.substr(i + 1, semi - i - 1);
    bool ok = false;
    uint32_t cp = 0;
    if (name[0] == '#') {
      bool hex = name.size() > 1 && (name[1] == 'x' || name[1] == 'X');
      std::string_view digits = name.substr(hex ? 2 : 1);
      if (!digits.empty() && digits.size() <= 8) {
        ok = true;
        for (char c : digits) {
          int d;
          if (c >= '0' && c <= '9')
            d = c - '0';
          else if (hex && lower(c) >= 'a' && lower(c) <= 'f')
            d = lower(c) - 'a' + 10;
          else {
            ok = false;
            break;
          }
          cp = cp * (hex ? 16 : 10) + static_cast<uint32_t>(d);
        }
        // Surrogates, NUL and out-of-range code points are not characters.
        if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) ok = false;
        if (cp == 0xA0) cp = ' ';
      }
    } else {
      auto it = table.find(std::string(name));
      if (it != table.end()) {
        ok = true;
        cp = it->second;
      }
    }
    if (!ok) {
      out += s[i++];
      continue;
    }
    append_utf8(out, cp);
    i = semi + 1;
  }
  return out;
}

std::string clean_wikitext(std::string_view wikitext, const WikitextOptions& opt) {
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
