// Wikitext -> plain article text, in the spirit of WikiExtractor: templates, tables, references, files,
// categories, interlanguage links, comments and non-text tags dropped; links reduced to their labels; quotes
// stripped; HTML entities decoded. Output: one line per paragraph, heading and list item ("\n"-separated,
// no blank lines, no trailing newline); headings of sections left empty by the cleaning are dropped.
#pragma once

#include <string>
#include <string_view>

namespace lm {

struct WikitextOptions {
  bool keep_headings = true;  // "== History ==" -> line "History"
  bool keep_lists = true;     // "* item" -> line "item"
  bool drop_reference_sections =
      true;  // References / External links / See also / Notes / Further reading ...
};

std::string clean_wikitext(std::string_view wikitext, const WikitextOptions& opt = {});

// Decodes named (&amp; &nbsp; &eacute; ...) and numeric (&#8212; &#x2014;) HTML entities; unknown or
// malformed ones are kept verbatim. &nbsp; and friends become a plain space.
std::string decode_html_entities(std::string_view s);

}  // namespace lm
