// Internals of the wikitext cleaner, shared by its four files: wikitext.cpp (the pass sequence, comments,
// tags, quotes), wikitext_templates.cpp (templates, tables), wikitext_links.cpp (wiki and external links) and
// wikitext_text.cpp (entities, line tidying, paragraph assembly). Every pass maps page text (UTF-8 handled
// as bytes; all markup is ASCII) to a new string, linear in its size.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "lm/data/wikitext.h"

namespace lm::wikitext_detail {

inline char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }
inline bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
inline bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; }

std::string to_lower(std::string_view s);

// Trims spaces and newlines at both ends.
inline std::string_view trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && (is_space(s[b]) || s[b] == '\n')) ++b;
  while (e > b && (is_space(s[e - 1]) || s[e - 1] == '\n')) --e;
  return s.substr(b, e - b);
}

// Splits at '\n'; n newlines give n + 1 lines.
std::vector<std::string_view> split_lines(std::string_view s);

// The passes that live outside wikitext.cpp, in clean_wikitext's order (pass 9 is decode_html_entities).
std::string remove_templates(std::string_view s);                      // pass 3
std::string remove_tables(std::string_view s);                         // pass 4
std::string process_links(std::string_view s);                         // pass 5
std::string process_external_links(std::string_view s);                // pass 6
std::string assemble(std::string_view s, const WikitextOptions& opt);  // pass 10

}  // namespace lm::wikitext_detail
