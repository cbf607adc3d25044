// The chat-template Jinja engine: feature cases vs Python's jinja2 (tests/tokenize/jinja_cases.json, made by
// tests/reference/gen_jinja_cases.py), then what jinja2 has no oracle for: provenance spans, error reporting,
// limits on hostile templates, the ChatML source and find_chat_template.
#include <gtest/gtest.h>

#include <cstdlib>
#include <ctime>
#include <string>

#include "harness/harness.h"
#include "lm/core/error.h"
#include "lm/core/file_util.h"
#include "lm/tokenize/chat_template.h"

namespace lm::test {
namespace {

void use_utc() {
  static const bool done = [] {
    setenv("TZ", "UTC", 1);
    tzset();
    return true;
  }();
  (void)done;
}

ChatVars vars_from(const OrderedJson& v) {
  ChatVars vars;
  vars.messages = v.value("messages", OrderedJson::array());
  if (v.contains("tools")) vars.tools = v.at("tools");
  vars.add_generation_prompt = v.value("add_generation_prompt", false);
  vars.bos_token = v.value("bos_token", "");
  vars.eos_token = v.value("eos_token", "");
  vars.now_unix = 1733580000;
  return vars;
}

std::string render_text(const std::string& src, const OrderedJson& messages) {
  ChatVars v;
  v.messages = messages;
  return ChatTemplate::parse(src, "t").render(v).text;
}

TEST(JinjaCases, MatchPythonJinja2) {
  use_utc();
  const OrderedJson cases = OrderedJson::parse(read_file(source_dir() + "/tests/tokenize/jinja_cases.json"));
  ASSERT_GT(cases.size(), 50u);
  int n = 0;
  for (const auto& c : cases) {
    const std::string src = c.at("template").get<std::string>();
    SCOPED_TRACE("case " + std::to_string(n++) + ": " + src.substr(0, 200));
    const ChatVars vars = vars_from(c.at("vars"));
    if (c.contains("raised")) {
      try {
        ChatTemplate::parse(src, "t").render(vars);
        ADD_FAILURE() << "expected raise_exception";
      } catch (const TemplateRaised& e) {
        EXPECT_EQ(std::string(e.what()), c.at("raised").get<std::string>());
      }
    } else if (c.contains("error")) {
      EXPECT_THROW(ChatTemplate::parse(src, "t").render(vars), Error) << "jinja2: " << c.at("error");
    } else {
      ChatRender r;
      ASSERT_NO_THROW(r = ChatTemplate::parse(src, "t").render(vars));
      EXPECT_EQ(r.text, c.at("text").get<std::string>());
      std::vector<ByteSpan> spans;
      for (const auto& s : c.at("generation"))
        spans.push_back({s.at(0).get<size_t>(), s.at(1).get<size_t>()});
      EXPECT_EQ(r.generation, spans);
    }
  }
}

TEST(JinjaChatTemplate, ChatMLSourceAndSpans) {
  EXPECT_EQ(chatml_template_source(),
            "{%- for message in messages -%}{{- '<|im_start|>' + message['role'] + '\\n' -}}{%- if "
            "message['role'] == "
            "'assistant' -%}{%- generation -%}{{- message['content'] + '<|im_end|>' -}}{%- endgeneration "
            "-%}{{- '\\n' "
            "-}}{%- else -%}{{- message['content'] + '<|im_end|>\\n' -}}{%- endif -%}{%- endfor -%}{%- if "
            "add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}");
  ChatTemplate t = ChatTemplate::parse(chatml_template_source(), "chatml");
  EXPECT_TRUE(t.has_generation_blocks());
  ChatVars v;
  v.messages = OrderedJson::parse(R"([{"role":"user","content":"hi"},{"role":"assistant","content":"yo"}])");
  v.add_generation_prompt = true;
  const ChatRender r = t.render(v);
  const std::string want =
      "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\nyo<|im_end|>\n<|im_start|>assistant\n";
  EXPECT_EQ(r.text, want);
  const size_t yo = want.find("yo");
  ASSERT_EQ(r.generation.size(), 1u);
  EXPECT_EQ(r.generation[0], (ByteSpan{yo, yo + 2 + 10}));
  // Content: the roles and the contents (all strings of `messages`).
  const std::vector<ByteSpan> content = {{12, 16}, {17, 19}, {42, 51}, {52, 54}};
  EXPECT_EQ(r.content, content);
  EXPECT_FALSE(ChatTemplate::parse("{{ 'generation' }}", "t").has_generation_blocks());
}

TEST(JinjaChatTemplate, ProvenanceFollowsStringOperations) {
  const std::string src =
      "{% for m in messages %}[{{ m.content | trim }}|{{ m.content[1:3] }}|{{ 'x' ~ m.content ~ 'y' }}|"
      "{{ m.content.replace('b', 'B') }}|{{ m.content | upper }}|{{ m | tojson }}|{{ 'lit' }}]{% endfor %}";
  ChatVars v;
  v.messages = OrderedJson::parse(R"([{"content":" abc "}])");
  const ChatRender r = ChatTemplate::parse(src, "t").render(v);
  // jinja2 renders "[abc|ab|x abc y| aBc | ABC |{\"content\": \" abc \"}|lit]".
  ASSERT_EQ(r.text, "[abc|ab|x abc y| aBc | ABC |{\"content\": \" abc \"}|lit]");
  const std::vector<ByteSpan> want = {
      {1, 4},              // trim keeps the marks of the bytes it keeps
      {5, 7},              // the slice [1:3]
      {9, 14},             // " abc " between the literals x and y
      {16, 18}, {19, 21},  // " a" and "c " of " aBc ": the replacement B is template text
      {22, 27},            // upper(): a case mapping marks all of its result
      {28, 48},            // tojson of a value holding a marked string: all of it
  };
  EXPECT_EQ(r.content, want);
}

TEST(JinjaChatTemplate, UnmarkedWithoutMessages) {
  ChatVars v;
  v.tools = OrderedJson::parse(R"([{"name":"f"}])");
  const ChatRender r = ChatTemplate::parse("{{ tools | tojson }}{{ bos_token }}", "t").render(v);
  EXPECT_EQ(r.text, "[{\"name\": \"f\"}]");
  EXPECT_TRUE(r.content.empty());
}

TEST(JinjaChatTemplate, SyntaxErrorsNameTemplateAndLine) {
  try {
    ChatTemplate::parse("ok\n{% if x %}\n{{ 1 + }}\n{% endif %}", "my.jinja");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::BadFormat);
    EXPECT_NE(std::string(e.what()).find("chat template my.jinja line 3: "), std::string::npos) << e.what();
  }
  for (const char* bad :
       {"{% for x in y %}", "{{ x", "{% endif %}", "{% unknown %}", "{# open", "{{ 'a }}", "{{ (1 }}",
        "{% break %}", "{% set %}", "{{ x | }}", "{% macro m(a=1, b) %}{% endmacro %}"})
    EXPECT_THROW(ChatTemplate::parse(bad, "t"), Error) << bad;
}

TEST(JinjaChatTemplate, RenderErrorsNameLine) {
  ChatTemplate t = ChatTemplate::parse("a\nb\n{{ x.y }}", "t2");
  try {
    t.render(ChatVars{});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::BadFormat);
    EXPECT_EQ(std::string(e.what()), "chat template t2 line 3: 'x' is undefined");
  }
  // raise_exception: exactly the template's message.
  try {
    ChatTemplate::parse("{{ raise_exception('Roles must alternate ' ~ 'user/assistant') }}", "t").render({});
    FAIL() << "no error";
  } catch (const TemplateRaised& e) {
    EXPECT_EQ(std::string(e.what()), "Roles must alternate user/assistant");
  }
  // The sandbox: no mutation of lists and dicts.
  EXPECT_THROW(render_text("{% set l = [] %}{{ l.append(1) }}", OrderedJson::array()), Error);
  EXPECT_THROW(render_text("{{ messages[0].update({'a': 1}) }}", OrderedJson::parse(R"([{"a":0}])")), Error);
  EXPECT_EQ(render_text("[{{ [].append }}]", OrderedJson::array()), "[]");
}

TEST(JinjaChatTemplate, LimitsStopHostileTemplates) {
  ChatTemplate::Limits lim;
  lim.max_output_bytes = 1 << 16;
  lim.max_loop_iterations = 100000;
  lim.max_call_depth = 50;
  auto run = [&](const std::string& src) {
    ChatTemplate t = ChatTemplate::parse(src, "t");
    t.set_limits(lim);
    t.render(ChatVars{});
  };
  EXPECT_THROW(run("{% for i in range(1000000) %}{% endfor %}"), Error);
  EXPECT_THROW(run("{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}"), Error);
  EXPECT_THROW(run("{% for i in range(100000) %}xxxxxxxxxx{% endfor %}"), Error);
  EXPECT_THROW(run("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}"), Error);
  EXPECT_THROW(
      run("{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}{% endfor %}"),
      Error);
  EXPECT_THROW(run("{{ 'ab' * 100000000 }}"), Error);
  EXPECT_THROW(run("{{ [1] * 100000000 }}"), Error);
  EXPECT_THROW(
      run("{% set ns = namespace(l=[]) %}{% for i in range(5000) %}{% set ns.l = [ns.l] %}{% endfor %}"),
      Error);
  // Deep nesting in the source is a syntax error, not a stack overflow.
  EXPECT_THROW(
      ChatTemplate::parse("{{ " + std::string(100000, '(') + "1" + std::string(100000, ')') + " }}", "t"),
      Error);
  EXPECT_THROW(ChatTemplate::parse("{{ " + std::string(100000, '[') + " }}", "t"), Error);
  std::string ifs;
  for (int i = 0; i < 5000; ++i) ifs += "{% if 1 %}";
  EXPECT_THROW(ChatTemplate::parse(ifs, "t"), Error);
  std::string sum = "{{ 1";
  for (int i = 0; i < 100000; ++i) sum += " + 1";
  EXPECT_THROW(ChatTemplate::parse(sum + " }}", "t"), Error);
  EXPECT_THROW(ChatTemplate::parse("{{ " + std::string(100000, '-') + "1 }}", "t"), Error);
}

TEST(JinjaChatTemplate, KeyOrderOfOrderedJsonIsKept) {
  ChatVars v;
  v.messages = OrderedJson::parse(R"([{"role":"user","content":"x","b":1,"a":2}])");
  const std::string src = "{{ messages[0] | tojson }}|{% for k in messages[0] %}{{ k }},{% endfor %}";
  EXPECT_EQ(ChatTemplate::parse(src, "t").render(v).text,
            "{\"role\": \"user\", \"content\": \"x\", \"b\": 1, \"a\": 2}|role,content,b,a,");
}

TEST(JinjaChatTemplate, StrftimeNowUsesTheClockAndCLocale) {
  use_utc();
  ChatVars v;
  v.now_unix = 1733580000;  // 2024-12-07 14:00:00 UTC
  EXPECT_EQ(ChatTemplate::parse("{{ strftime_now('%d %B %Y, %A %I:%M %p') }}", "t").render(v).text,
            "07 December 2024, Saturday 02:00 PM");
  v.now_unix = -1;
  EXPECT_EQ(ChatTemplate::parse("{{ strftime_now('%Y') | length }}", "t").render(v).text, "4");
}

void write(const std::string& path, const std::string& s) { write_file_atomic(path, s); }

TEST(JinjaChatTemplate, FindChatTemplate) {
  const std::string d = temp_dir("find_chat_template");
  // Nothing: built-in ChatML.
  ChatTemplateSource s = find_chat_template(d);
  EXPECT_TRUE(s.builtin);
  EXPECT_EQ(s.source, chatml_template_source());
  EXPECT_EQ(s.origin, "built-in ChatML");
  // chat_template.jinja, tokens from special_tokens_map.json.
  write(d + "/chat_template.jinja", "J{{ bos_token }}\n");
  write(d + "/special_tokens_map.json",
        R"({"bos_token": {"content": "<s>", "lstrip": false}, "eos_token": "</s>"})");
  s = find_chat_template(d);
  EXPECT_FALSE(s.builtin);
  EXPECT_EQ(s.source, "J{{ bos_token }}\n");
  EXPECT_EQ(s.origin, d + "/chat_template.jinja");
  EXPECT_EQ(s.bos_token, "<s>");
  EXPECT_EQ(s.eos_token, "</s>");
  EXPECT_EQ(s.unk_token, "");
  // tokenizer_config.json wins: a string template, tokens as AddedToken objects.
  write(
      d + "/tokenizer_config.json",
      R"({"chat_template": "S", "bos_token": {"content": "<|begin|>", "__type": "AddedToken"}, "pad_token": null})");
  s = find_chat_template(d);
  EXPECT_EQ(s.source, "S");
  EXPECT_EQ(s.origin, d + "/tokenizer_config.json");
  EXPECT_EQ(s.bos_token, "<|begin|>");
  EXPECT_EQ(s.eos_token, "</s>");
  // A list: the "default" entry, else the first.
  write(
      d + "/tokenizer_config.json",
      R"({"chat_template": [{"name": "tool_use", "template": "T"}, {"name": "default", "template": "D"}]})");
  EXPECT_EQ(find_chat_template(d).source, "D");
  write(d + "/tokenizer_config.json", R"({"chat_template": [{"name": "tool_use", "template": "T"}]})");
  EXPECT_EQ(find_chat_template(d).source, "T");
  write(d + "/tokenizer_config.json", R"({"chat_template": 5})");
  EXPECT_THROW(find_chat_template(d), Error);
}

}  // namespace
}  // namespace lm::test
