// ChatTemplate over the Jinja engine in tokenize/jinja/: parse once, render with transformers' variables
// (messages marked as content, tools, add_generation_prompt, special tokens, extra), turn engine errors into
// lm::Error naming the template and line; find_chat_template reads a model/tokenizer directory.
#include "lm/tokenize/chat_template.h"

#include "lm/core/file_util.h"
#include "lm/tokenize/jinja/ast.h"
#include "lm/tokenize/jinja/eval.h"

namespace lm {

namespace {

using jinja::Value;

template <class J>
Value from_json(const J& j, bool marked, int depth) {
  if (depth > jinja::kMaxValueDepth) throw jinja::EvalError("input JSON nesting too deep");
  switch (j.type()) {
    case J::value_t::null:
    case J::value_t::discarded:
      return Value::none();
    case J::value_t::boolean:
      return Value::boolean(j.template get<bool>());
    case J::value_t::number_integer:
      return Value::integer(j.template get<int64_t>());
    case J::value_t::number_unsigned: {
      const uint64_t u = j.template get<uint64_t>();
      if (u > static_cast<uint64_t>(INT64_MAX)) return Value::number(static_cast<double>(u));
      return Value::integer(static_cast<int64_t>(u));
    }
    case J::value_t::number_float:
      return Value::number(j.template get<double>());
    case J::value_t::string:
      return Value::string(j.template get<std::string>(), marked);
    case J::value_t::array: {
      std::vector<Value> items;
      items.reserve(j.size());
      for (const auto& x : j) items.push_back(from_json(x, marked, depth + 1));
      return Value::list(std::move(items));
    }
    case J::value_t::object: {
      auto d = std::make_shared<jinja::DictObj>();
      d->items.reserve(j.size());
      for (auto it = j.begin(); it != j.end(); ++it)
        d->items.emplace_back(Value::string(it.key(), marked), from_json(it.value(), marked, depth + 1));
      return Value::dict(d);
    }
    default:
      return Value::none();
  }
}

std::string where(const std::string& name, int line) {
  return "chat template " + name + " line " + std::to_string(line) + ": ";
}

}  // namespace

struct ChatTemplate::Impl {
  std::string source, name;
  jinja::ParsedTemplate parsed;
  Limits limits;
};

ChatTemplate::ChatTemplate(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ChatTemplate::ChatTemplate(ChatTemplate&&) noexcept = default;
ChatTemplate& ChatTemplate::operator=(ChatTemplate&&) noexcept = default;
ChatTemplate::~ChatTemplate() = default;

ChatTemplate ChatTemplate::parse(const std::string& source, const std::string& name) {
  auto impl = std::make_unique<Impl>();
  impl->source = source;
  impl->name = name;
  try {
    impl->parsed = jinja::parse_template(source);
  } catch (const jinja::EvalError& e) {
    throw Error(ErrorCode::BadFormat, where(name, e.line()) + e.what());
  }
  return ChatTemplate(std::move(impl));
}

bool ChatTemplate::has_generation_blocks() const { return impl_->parsed.has_generation; }
const std::string& ChatTemplate::source() const { return impl_->source; }
const std::string& ChatTemplate::name() const { return impl_->name; }
void ChatTemplate::set_limits(const Limits& l) { impl_->limits = l; }

ChatRender ChatTemplate::render(const ChatVars& vars) const {
  jinja::Limits lim;
  lim.max_output_bytes = impl_->limits.max_output_bytes;
  lim.max_loop_iterations = impl_->limits.max_loop_iterations;
  lim.max_call_depth = impl_->limits.max_call_depth;
  jinja::Evaluator ev(lim, vars.now_unix);
  ChatRender r;
  try {
    auto root = std::make_shared<jinja::Scope>();
    jinja::add_builtin_globals(*root);
    root->vars["messages"] = from_json(vars.messages, true, 0);
    root->vars["tools"] = from_json(vars.tools, false, 0);
    root->vars["documents"] = Value::none();
    root->vars["add_generation_prompt"] = Value::boolean(vars.add_generation_prompt);
    const std::pair<const char*, const std::string*> special[] = {{"bos_token", &vars.bos_token},
                                                                  {"eos_token", &vars.eos_token},
                                                                  {"unk_token", &vars.unk_token},
                                                                  {"pad_token", &vars.pad_token}};
    if (vars.extra.is_object())
      for (auto it = vars.extra.begin(); it != vars.extra.end(); ++it)
        root->vars[it.key()] = from_json(it.value(), false, 0);
    for (const auto& [k, v] : special)
      if (!v->empty()) root->vars[k] = Value::string(*v);
    jinja::Str out = ev.render(impl_->parsed.body, root);
    r.text = std::move(out.text);
    // Character offsets -> byte offsets of the final text (spans past its end are dropped).
    std::vector<size_t> char_to_byte;
    for (size_t i = 0; i < r.text.size(); ++i)
      if ((static_cast<unsigned char>(r.text[i]) & 0xC0) != 0x80) char_to_byte.push_back(i);
    char_to_byte.push_back(r.text.size());
    for (const auto& [b, e] : ev.generation_spans())
      if (b < e && e < char_to_byte.size()) r.generation.push_back({char_to_byte[b], char_to_byte[e]});
    if (!out.marks.empty()) {
      for (size_t i = 0; i < out.marks.size();) {
        if (out.marks[i] != '\1') {
          ++i;
          continue;
        }
        size_t j = i;
        while (j < out.marks.size() && out.marks[j] == '\1') ++j;
        r.content.push_back({i, j});
        i = j;
      }
    }
  } catch (const jinja::RaisedError& e) {
    throw TemplateRaised(e.what());
  } catch (const jinja::EvalError& e) {
    throw Error(ErrorCode::BadFormat, where(impl_->name, e.line() ? e.line() : ev.line()) + e.what());
  }
  return r;
}

const std::string& chatml_template_source() {
  static const std::string s =
      "{%- for message in messages -%}{{- '<|im_start|>' + message['role'] + '\\n' -}}"
      "{%- if message['role'] == 'assistant' -%}{%- generation -%}{{- message['content'] + '<|im_end|>' -}}"
      "{%- endgeneration -%}{{- '\\n' -}}{%- else -%}{{- message['content'] + '<|im_end|>\\n' -}}{%- endif "
      "-%}"
      "{%- endfor -%}{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}";
  return s;
}

namespace {

std::string token_text(const Json& j) {
  if (j.is_string()) return j.template get<std::string>();
  if (j.is_object() && j.contains("content") && j["content"].is_string())
    return j["content"].get<std::string>();
  return {};
}

}  // namespace

ChatTemplateSource find_chat_template(const std::string& dir) {
  ChatTemplateSource src;
  Json config, special_map;
  const std::string config_path = path_join(dir, "tokenizer_config.json");
  const std::string map_path = path_join(dir, "special_tokens_map.json");
  if (file_exists(config_path)) config = read_json_file(config_path);
  if (file_exists(map_path)) special_map = read_json_file(map_path);
  if (config.is_object() && config.contains("chat_template")) {
    const Json& ct = config["chat_template"];
    if (ct.is_string()) {
      src.source = ct.get<std::string>();
      src.origin = config_path;
    } else if (ct.is_array() && !ct.empty()) {
      const Json* pick = nullptr;
      for (const auto& e : ct)
        if (e.is_object() && e.value("name", Json()).is_string() && e["name"] == "default") pick = &e;
      if (!pick) pick = &ct[0];
      LM_CHECK_AS(ErrorCode::BadFormat,
                  pick->is_object() && pick->contains("template") && (*pick)["template"].is_string(),
                  "tokenizer_config.json: chat_template list entries need a \"template\" string, {}",
                  config_path);
      src.source = (*pick)["template"].get<std::string>();
      src.origin = config_path;
    } else {
      LM_CHECK_AS(ErrorCode::BadFormat, ct.is_null(),
                  "tokenizer_config.json: chat_template must be a string or a list, {}", config_path);
    }
  }
  const std::string jinja_path = path_join(dir, "chat_template.jinja");
  if (src.origin.empty() && file_exists(jinja_path)) {
    src.source = read_file(jinja_path);
    src.origin = jinja_path;
  }
  if (src.origin.empty()) {
    src.source = chatml_template_source();
    src.origin = "built-in ChatML";
    src.builtin = true;
  }
  const std::pair<const char*, std::string*> tokens[] = {{"bos_token", &src.bos_token},
                                                         {"eos_token", &src.eos_token},
                                                         {"unk_token", &src.unk_token},
                                                         {"pad_token", &src.pad_token}};
  for (const auto& [key, dst] : tokens) {
    if (config.is_object() && config.contains(key)) *dst = token_text(config[key]);
    if (dst->empty() && special_map.is_object() && special_map.contains(key))
      *dst = token_text(special_map[key]);
  }
  return src;
}

}  // namespace lm
