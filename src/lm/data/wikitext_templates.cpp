// Wikitext cleaner, passes 3 and 4: templates (bracket-matched; a few inline ones rendered to their text,
// the rest dropped) and tables (removed by line, nesting matched with a stack).
#include <cstdint>
#include <string>
#include <vector>

#include "lm/data/wikitext_internal.h"

namespace lm::wikitext_detail {
namespace {

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

// Line starts with `tok` after optional indentation (spaces and ':').
bool line_starts(std::string_view line, std::string_view tok) {
  size_t i = 0;
  while (i < line.size() && (is_space(line[i]) || line[i] == ':')) ++i;
  return line.substr(i, tok.size()) == tok;
}

}  // namespace

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

}  // namespace lm::wikitext_detail
