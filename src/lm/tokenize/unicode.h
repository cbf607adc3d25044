// Unicode helpers for the tokenizers: lenient UTF-8 decoding, general-category classes (via utf8proc, Unicode 15),
// the White_Space property, NFD decomposition and simple lowercasing. Invalid UTF-8 bytes decode one at a time
// to kInvalidCodepoint so callers decide how to treat them (byte-level BPE keeps the byte, WordPiece uses U+FFFD).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace lm::unicode {

constexpr int32_t kInvalidCodepoint = -1;

// Decodes the code point at s[i] (i < s.size()) and sets len to its byte length (>= 1). Malformed, overlong,
// surrogate or truncated sequences give kInvalidCodepoint with len = 1.
int32_t decode_utf8(std::string_view s, size_t i, int& len);
// Appends the UTF-8 encoding of cp (0 <= cp <= 0x10FFFF).
void append_utf8(std::string& out, int32_t cp);
// True when s is well-formed UTF-8.
bool is_valid_utf8(std::string_view s);
// Replaces every malformed byte with U+FFFD (like Rust's String::from_utf8_lossy, per byte).
std::string to_valid_utf8(std::string_view s);
// Number of code points (invalid bytes count one each).
size_t count_codepoints(std::string_view s);

// The Unicode White_Space property (what \s means in the Rust regex crate and Oniguruma, which tiktoken and
// Hugging Face tokenizers use for the GPT-2 pattern, and what Rust's char::is_whitespace tests).
bool is_white_space(int32_t cp);
bool is_letter(int32_t cp);       // \p{L}: Lu Ll Lt Lm Lo
bool is_number(int32_t cp);       // \p{N}: Nd Nl No
bool is_punctuation(int32_t cp);  // \p{P}: Pc Pd Ps Pe Pi Pf Po
bool is_mark_nonspacing(int32_t cp);  // Mn
// Cc Cf Cn Co (Rust tokenizers' BERT is_control), minus \t \n \r.
bool is_bert_control(int32_t cp);
bool is_cjk_ideograph(int32_t cp);
// Lu/Lt with a lowercase mapping of its own (so not e.g. U+211D DOUBLE-STRUCK CAPITAL R).
bool is_uppercase_letter(int32_t cp);

// Canonical decomposition (NFD, with canonical reordering) of well-formed UTF-8.
std::string nfd(std::string_view valid_utf8);
// Canonical decomposition of one code point (no reordering) appended to out; canonical combining class of cp.
void append_decomposition(std::u32string& out, int32_t cp);
int combining_class(int32_t cp);
// Lowercase mapping of one code point, as Rust's char::to_lowercase (U+0130 maps to two code points).
void append_lower(std::string& out, int32_t cp);

}  // namespace lm::unicode
