// Wikitext cleaner, passes 9 and 10: HTML entities decoded to UTF-8, then the line structure: paragraphs
// joined, list items and headings kept as lines, whitespace and leftover punctuation tidied, empty and
// reference sections dropped.
#include <algorithm>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "lm/data/wikitext_internal.h"

namespace lm::wikitext_detail {
namespace {

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

}  // namespace

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

}  // namespace lm::wikitext_detail

namespace lm {

std::string decode_html_entities(std::string_view s) {
  using wikitext_detail::append_utf8;
  using wikitext_detail::entity_table;
  using wikitext_detail::lower;
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

}  // namespace lm
