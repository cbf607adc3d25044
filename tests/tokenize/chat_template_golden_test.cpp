// Chat templates vs Python's jinja2 configured as transformers' apply_chat_template (goldens made by
// tests/reference/gen_chat_templates.py): 24 real templates + the built-in ChatML, each rendered on a set of
// probe conversations with and without add_generation_prompt. Text must match byte for byte, {% generation %}
// spans exactly (UTF-8 byte offsets); raise_exception() cases must throw TemplateRaised with the template's
// message, other jinja2 failures (UndefinedError, TypeError, ...) some lm::Error.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <ctime>
#include <map>
#include <string>
#include <vector>

#include "harness/harness.h"
#include "lm/core/error.h"
#include "lm/core/file_util.h"
#include "lm/core/json.h"
#include "lm/tokenize/chat_template.h"

namespace lm::test {
namespace {

std::string templates_dir() { return source_dir() + "/tests/tokenize/chat_templates"; }

const Json& goldens() {
  static const Json j = read_json_file(templates_dir() + "/goldens.json");
  return j;
}

// Template file names in the goldens, in order of first appearance.
std::vector<std::string> template_names() {
  std::vector<std::string> names;
  for (const auto& c : goldens()) {
    std::string t = c.at("template").get<std::string>();
    if (names.empty() || names.back() != t) names.push_back(t);
  }
  return names;
}

void use_utc() {
  static const bool done = [] {
    setenv("TZ", "UTC", 1);
    tzset();
    return true;
  }();
  (void)done;
}

ChatVars vars_of(const Json& c) {
  const Json& v = c.at("vars");
  ChatVars vars;
  vars.messages = v.at("messages");
  if (v.contains("tools")) vars.tools = v.at("tools");
  vars.add_generation_prompt = v.at("add_generation_prompt").get<bool>();
  if (v.contains("bos_token") && v.at("bos_token").is_string())
    vars.bos_token = v.at("bos_token").get<std::string>();
  if (v.contains("eos_token") && v.at("eos_token").is_string())
    vars.eos_token = v.at("eos_token").get<std::string>();
  if (v.contains("extra")) vars.extra = v.at("extra");
  vars.now_unix = c.at("now_unix").get<int64_t>();
  return vars;
}

// A byte string made readable: control bytes and backslashes escaped, UTF-8 kept.
std::string escaped(const std::string& s) {
  std::string out;
  for (unsigned char ch : s) {
    if (ch == '\n')
      out += "\\n";
    else if (ch == '\t')
      out += "\\t";
    else if (ch == '\r')
      out += "\\r";
    else if (ch == '\\')
      out += "\\\\";
    else if (ch < 0x20 || ch == 0x7f)
      out += "\\x" + std::string(1, "0123456789abcdef"[ch >> 4]) + "0123456789abcdef"[ch & 15];
    else
      out += static_cast<char>(ch);
  }
  return out;
}

// Where two renderings first differ, with some context from each.
std::string diff_report(const std::string& want, const std::string& got) {
  size_t i = 0;
  while (i < want.size() && i < got.size() && want[i] == got[i]) ++i;
  size_t from = i > 60 ? i - 60 : 0;
  auto around = [&](const std::string& s) {
    return from < s.size() ? escaped(s.substr(from, 140)) : std::string();
  };
  std::string r = "first difference at byte " + std::to_string(i) + " (expected " +
                  std::to_string(want.size()) + " bytes, got " + std::to_string(got.size()) +
                  ")\n  context from byte " + std::to_string(from) + "\n  expected: \"" + around(want) +
                  "\"\n  got:      \"" + around(got) + "\"";
  return r;
}

std::string spans_str(const std::vector<ByteSpan>& v) {
  std::string s = "[";
  for (const auto& b : v) s += "[" + std::to_string(b.begin) + "," + std::to_string(b.end) + "]";
  return s + "]";
}

std::string case_name(const Json& c) {
  return c.at("template").get<std::string>() + " / " + c.at("probe").get<std::string>() +
         (c.at("vars").at("add_generation_prompt").get<bool>() ? " / add_generation_prompt" : "");
}

// Checks one case; returns an empty string when it passes, else what went wrong.
std::string check_case(const ChatTemplate& tmpl, const Json& c) {
  ChatVars vars = vars_of(c);
  if (c.contains("error")) {
    std::string want = c.at("error").get<std::string>();
    bool raised_kind = !c.contains("error_type");
    try {
      ChatRender r = tmpl.render(vars);
      return "expected an error (" + want + "), got a rendering of " + std::to_string(r.text.size()) +
             " bytes:\n  \"" + escaped(r.text.substr(0, 300)) + "\"";
    } catch (const TemplateRaised& e) {
      if (!raised_kind) return "";  // any lm::Error will do for jinja2's own errors
      if (e.what() != want)
        return "raise_exception message differs:\n  expected: " + want + "\n  got:      " + e.what();
      return "";
    } catch (const Error& e) {
      if (raised_kind) return "expected TemplateRaised(\"" + want + "\"), got lm::Error: " + e.what();
      return "";
    }
  }
  ChatRender r;
  try {
    r = tmpl.render(vars);
  } catch (const std::exception& e) {
    return std::string("render threw: ") + e.what();
  }
  const std::string want = c.at("text").get<std::string>();
  if (r.text != want) return diff_report(want, r.text);
  std::vector<ByteSpan> spans;
  for (const auto& s : c.at("generation")) spans.push_back({s.at(0).get<size_t>(), s.at(1).get<size_t>()});
  if (r.generation != spans)
    return "generation spans differ: expected " + spans_str(spans) + ", got " + spans_str(r.generation);
  return "";
}

class ChatTemplateGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(ChatTemplateGolden, MatchesJinja2) {
  use_utc();
  const std::string file = GetParam();
  const std::string source = read_file(templates_dir() + "/" + file);
  ChatTemplate tmpl = ChatTemplate::parse(source, file);
  EXPECT_EQ(tmpl.source(), source);
  EXPECT_EQ(tmpl.name(), file);
  EXPECT_EQ(tmpl.has_generation_blocks(), source.find("generation") != std::string::npos &&
                                              source.find("endgeneration") != std::string::npos);
  int n = 0, bad = 0;
  for (const auto& c : goldens()) {
    if (c.at("template").get<std::string>() != file) continue;
    ++n;
    std::string why = check_case(tmpl, c);
    if (!why.empty() && ++bad <= 8) ADD_FAILURE() << case_name(c) << ": " << why;
  }
  EXPECT_GT(n, 0);
  EXPECT_EQ(bad, 0) << "of " << n << " cases of " << file;
}

INSTANTIATE_TEST_SUITE_P(All, ChatTemplateGolden, ::testing::ValuesIn(template_names()),
                         [](const auto& info) {
                           std::string n = info.param.substr(0, info.param.rfind(".jinja"));
                           for (auto& ch : n)
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return n;
                         });

TEST(ChatTemplateGoldenSet, CoversTheProbes) {
  const Json& g = goldens();
  ASSERT_TRUE(g.is_array());
  std::map<std::string, int> kinds;
  for (const auto& c : g) {
    if (c.contains("error"))
      ++kinds[c.contains("error_type") ? "other error" : "raise_exception"];
    else
      ++kinds[c.at("generation").empty() ? "text" : "text+generation"];
  }
  EXPECT_GE(template_names().size(), 17u);
  EXPECT_GT(kinds["raise_exception"], 0);
  EXPECT_GT(kinds["other error"], 0);
  EXPECT_GT(kinds["text+generation"], 0);
}

// chatml.jinja is a verbatim copy of the built-in ChatML source.
TEST(ChatTemplateGoldenSet, BuiltinChatMLIsTheGoldenOne) {
  EXPECT_EQ(chatml_template_source(), read_file(templates_dir() + "/chatml.jinja"));
}

}  // namespace
}  // namespace lm::test
