// Declared flags: parsing against a CommandSpec and the generated --help text.
#include "flags.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>

#include "lm/core/error.h"
#include "lm/core/suggest.h"

namespace lm::cli {
namespace {

constexpr size_t kWidth = 112;    // --help lines are wrapped to this many columns
constexpr size_t kMaxLeft = 28;   // left column of a row; longer entries put their help on the next line

bool is_flag_token(const std::string& a) { return a.size() > 2 && a.rfind("--", 0) == 0; }
bool is_help_token(const std::string& a) { return a == "--help" || a == "-h"; }
bool is_bool_word(const std::string& a) { return a == "true" || a == "false" || a == "1" || a == "0"; }

std::string join_choices(const std::vector<std::string>& c, const char* sep, const char* last_sep) {
  std::string s;
  for (size_t i = 0; i < c.size(); ++i) s += (i == 0 ? "" : i + 1 == c.size() ? last_sep : sep) + c[i];
  return s;
}

// Checks one value against its declaration; the messages are those the old Args parser gave.
void check_value(const FlagSpec& f, const std::string& v, const std::string& command) {
  switch (f.kind) {
    case FlagKind::Int:
      parse_int_value(f.name, v, command);
      break;
    case FlagKind::Double:
      parse_double_value(f.name, v, command);
      break;
    case FlagKind::Bool:
      LM_CHECK(is_bool_word(v), "{} is a switch and takes no value (or true/false), got '{}', in lmcpp {}", f.name, v,
               command);
      break;
    case FlagKind::String:
      if (!f.choices.empty()) {
        bool ok = false;
        for (const auto& c : f.choices) ok = ok || c == v;
        LM_CHECK(ok, "{} must be {}, got '{}', in lmcpp {}", f.name, join_choices(f.choices, ", ", " or "), v,
                 command);
      }
      break;
    case FlagKind::Repeated:
      break;
  }
}

// Appends `text` word-wrapped to lines of kWidth, the first line continuing at column `col` of `out`'s last line
// and the others indented by `indent`.
void append_wrapped(std::string& out, const std::string& text, size_t col, size_t indent) {
  size_t pos = 0;
  bool first_word = true;
  while (pos < text.size()) {
    if (text[pos] == '\n') {
      out += '\n';
      out.append(indent, ' ');
      col = indent;
      first_word = true;
      ++pos;
      continue;
    }
    if (text[pos] == ' ') {
      ++pos;
      continue;
    }
    size_t end = text.find_first_of(" \n", pos);
    if (end == std::string::npos) end = text.size();
    const size_t len = end - pos;
    if (!first_word && col + 1 + len > kWidth) {
      out += '\n';
      out.append(indent, ' ');
      col = indent;
      first_word = true;
    }
    if (!first_word) {
      out += ' ';
      ++col;
    }
    out.append(text, pos, len);
    col += len;
    first_word = false;
    pos = end;
  }
}

std::string synopsis_item(const FlagSpec& f) {
  std::string s = f.name;
  if (f.kind != FlagKind::Bool) s += " " + f.value_name;
  if (f.takes_rest) s += "...";
  if (!f.is_required) s = "[" + s + "]";
  if (f.kind == FlagKind::Repeated && !f.takes_rest) s += "...";
  return s;
}

}  // namespace

FlagSpec FlagSpec::required() const {
  FlagSpec f = *this;
  f.is_required = true;
  return f;
}

FlagSpec FlagSpec::rest() const {
  FlagSpec f = *this;
  LM_ASSERT(f.kind == FlagKind::Repeated);
  f.takes_rest = true;
  return f;
}

FlagSpec FlagSpec::only_with(std::string flag, std::vector<std::string> values) const {
  FlagSpec f = *this;
  LM_ASSERT(!values.empty());
  f.only_flag = std::move(flag);
  f.only_values = std::move(values);
  return f;
}

FlagSpec string_flag(std::string name, std::string value_name, std::string help) {
  return FlagSpec{.name = std::move(name), .value_name = std::move(value_name), .help = std::move(help)};
}

FlagSpec string_flag(std::string name, std::string value_name, std::string default_value, std::string help) {
  return FlagSpec{.name = std::move(name), .value_name = std::move(value_name),
                  .default_value = std::move(default_value), .help = std::move(help)};
}

FlagSpec choice_flag(std::string name, std::vector<std::string> choices, std::optional<std::string> default_value,
                     std::string help) {
  std::string value_name = join_choices(choices, "|", "|");
  return FlagSpec{.name = std::move(name), .value_name = std::move(value_name),
                  .default_value = std::move(default_value), .help = std::move(help),
                  .choices = std::move(choices)};
}

FlagSpec int_flag(std::string name, std::string value_name, int64_t default_value, std::string help) {
  return FlagSpec{.name = std::move(name), .kind = FlagKind::Int, .value_name = std::move(value_name),
                  .default_value = std::to_string(default_value), .help = std::move(help)};
}

FlagSpec int_flag(std::string name, std::string value_name, std::string help) {
  return FlagSpec{.name = std::move(name), .kind = FlagKind::Int, .value_name = std::move(value_name),
                  .help = std::move(help)};
}

FlagSpec double_flag(std::string name, std::string value_name, double default_value, std::string help) {
  // fmt's shortest round-trip form, so parsing the default text gives back exactly default_value.
  return FlagSpec{.name = std::move(name), .kind = FlagKind::Double, .value_name = std::move(value_name),
                  .default_value = fmt::format("{}", default_value), .help = std::move(help)};
}

FlagSpec adapter_flag() {
  return string_flag("--adapter", "DIR",
                     "a LoRA adapter directory (PEFT: adapter_config.json + adapter_model.safetensors) applied "
                     "unmerged on the model; its tokenizer files, if it has any, are used instead of the model's");
}

FlagSpec bool_flag(std::string name, std::string help) {
  return FlagSpec{.name = std::move(name), .kind = FlagKind::Bool, .help = std::move(help)};
}

FlagSpec repeated_flag(std::string name, std::string value_name, std::string help) {
  return FlagSpec{.name = std::move(name), .kind = FlagKind::Repeated, .value_name = std::move(value_name),
                  .help = std::move(help)};
}

int64_t parse_int_value(const std::string& name, const std::string& v, const std::string& command) {
  errno = 0;
  char* end = nullptr;
  long long x = std::strtoll(v.c_str(), &end, 10);
  LM_CHECK(!v.empty() && *end == 0 && errno == 0, "{} expects an integer, got '{}', in lmcpp {}", name, v, command);
  return x;
}

double parse_double_value(const std::string& name, const std::string& v, const std::string& command) {
  errno = 0;
  char* end = nullptr;
  double x = std::strtod(v.c_str(), &end);
  LM_CHECK(!v.empty() && *end == 0 && errno == 0, "{} expects a number, got '{}', in lmcpp {}", name, v, command);
  return x;
}

bool help_requested(const std::vector<std::string>& argv) {
  for (const auto& a : argv)
    if (is_help_token(a)) return true;
  return false;
}

Flags Flags::parse(const CommandSpec& spec, const std::vector<std::string>& argv) {
  Flags out;
  out.command_ = spec.name;
  out.specs_ = &spec.flags;
  const std::string& cmd = spec.name;
  auto find = [&](const std::string& name) -> const FlagSpec* {
    for (const auto& f : spec.flags)
      if (f.name == name) return &f;
    return nullptr;
  };
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (is_help_token(a)) continue;
    if (!is_flag_token(a) && spec.operand && !out.operand_) {
      const OperandSpec& op = *spec.operand;
      LM_CHECK(op.choices.empty() || std::find(op.choices.begin(), op.choices.end(), a) != op.choices.end(),
               "{} must be {}, got '{}', in lmcpp {}", op.name, join_choices(op.choices, ", ", " or "), a, cmd);
      out.operand_ = a;
      continue;
    }
    LM_CHECK(is_flag_token(a), "unexpected argument '{}', in lmcpp {}", a, cmd);
    const size_t eq = a.find('=');
    const std::string name = a.substr(0, eq);
    const FlagSpec* f = find(name);
    if (f == nullptr) {
      std::vector<std::string> names;
      for (const auto& d : spec.flags) names.push_back(d.name);
      LM_THROW(ErrorCode::InvalidArgument, "unknown flag {}{}, in lmcpp {} (see lmcpp {} --help)", name,
               did_you_mean(name, names), cmd, cmd);
    }
    const bool has_next = i + 1 < argv.size() && !is_flag_token(argv[i + 1]) && !is_help_token(argv[i + 1]);
    std::string value;
    if (eq != std::string::npos) {
      value = a.substr(eq + 1);
    } else if (f->kind == FlagKind::Bool) {
      // "--json" alone is true; "--json false" (the old parser's reading) is kept.
      value = has_next && is_bool_word(argv[i + 1]) ? argv[++i] : "true";
    } else {
      LM_CHECK(has_next, "{} needs a value, in lmcpp {}", name, cmd);
      value = argv[++i];
    }
    check_value(*f, value, cmd);
    auto& vals = out.values_[name];
    if (f->kind == FlagKind::Bool) value = value == "true" || value == "1" ? "true" : "false";
    vals.push_back(value);
    if (f->takes_rest)
      while (i + 1 < argv.size() && !is_flag_token(argv[i + 1]) && !is_help_token(argv[i + 1]))
        vals.push_back(argv[++i]);
  }
  for (const auto& f : spec.flags)
    LM_CHECK(!f.is_required || out.values_.count(f.name), "missing required flag {}, in lmcpp {} (see lmcpp {} --help)",
             f.name, cmd, cmd);
  LM_CHECK(!spec.operand || !spec.operand->is_required || out.operand_, "missing {}, in lmcpp {} (see lmcpp {} --help)",
           spec.operand ? spec.operand->name : "", cmd, cmd);
  for (const auto& f : spec.flags) {
    if (f.only_flag.empty() || !out.values_.count(f.name)) continue;
    const FlagSpec* cond = find(f.only_flag);
    LM_ASSERT(cond != nullptr && cond->kind == FlagKind::String);
    const std::string v = out.value_or_default(*cond).value_or("");
    bool ok = false;
    for (const auto& w : f.only_values) ok = ok || w == v;
    LM_CHECK(ok, "{} applies only with {} {}, not {} {}, in lmcpp {} (see lmcpp {} --help)", f.name, f.only_flag,
             join_choices(f.only_values, ", ", " or "), f.only_flag, v.empty() ? "\"\"" : v, cmd, cmd);
  }
  return out;
}

const FlagSpec& Flags::spec_of(const std::string& name, FlagKind kind) const {
  for (const auto& f : *specs_) {
    if (f.name != name) continue;
    LM_CHECK_AS(ErrorCode::Internal, f.kind == kind, "lmcpp {}: flag {} is read as another kind than declared",
                command_, name);
    return f;
  }
  LM_THROW(ErrorCode::Internal, "lmcpp {}: flag {} is read but not declared", command_, name);
}

std::optional<std::string> Flags::value_or_default(const FlagSpec& f) const {
  auto it = values_.find(f.name);
  if (it != values_.end()) return it->second.back();  // the last occurrence wins
  return f.default_value;
}

bool Flags::given(const std::string& name) const { return values_.count(name) > 0; }

std::optional<std::string> Flags::get(const std::string& name) const {
  return value_or_default(spec_of(name, FlagKind::String));
}

std::string Flags::str(const std::string& name) const { return get(name).value_or(""); }

int64_t Flags::i64(const std::string& name) const {
  const FlagSpec& f = spec_of(name, FlagKind::Int);
  auto v = value_or_default(f);
  LM_CHECK_AS(ErrorCode::Internal, v.has_value(), "lmcpp {}: {} has no value and no default", command_, name);
  return parse_int_value(name, *v, command_);
}

double Flags::f64(const std::string& name) const {
  const FlagSpec& f = spec_of(name, FlagKind::Double);
  auto v = value_or_default(f);
  LM_CHECK_AS(ErrorCode::Internal, v.has_value(), "lmcpp {}: {} has no value and no default", command_, name);
  return parse_double_value(name, *v, command_);
}

bool Flags::on(const std::string& name) const {
  auto v = value_or_default(spec_of(name, FlagKind::Bool));
  return v && *v == "true";
}

const std::vector<std::string>& Flags::all(const std::string& name) const {
  static const std::vector<std::string> kNone;
  spec_of(name, FlagKind::Repeated);
  auto it = values_.find(name);
  return it == values_.end() ? kNone : it->second;
}

std::string format_rows(const std::vector<std::pair<std::string, std::string>>& rows) {
  size_t left = 0;
  for (const auto& [l, r] : rows)
    if (l.size() <= kMaxLeft) left = std::max(left, l.size());
  const size_t col = 2 + left + 2;
  std::string out;
  for (const auto& [l, r] : rows) {
    out += "  ";
    out += l;
    if (l.size() > left) {
      out += '\n';
      out.append(col, ' ');
    } else {
      out.append(col - 2 - l.size(), ' ');
    }
    append_wrapped(out, r, col, col);
    out += "\n";
  }
  return out;
}

std::string generate_help(const CommandSpec& spec) {
  const std::string head = "usage: lmcpp " + spec.name;
  std::string out = head;
  // Wrap the synopsis between items, not inside one ("[--input text|jsonl]" stays whole).
  size_t col = head.size();
  std::vector<std::string> items;
  if (spec.operand) items.push_back(spec.operand->is_required ? spec.operand->name : "[" + spec.operand->name + "]");
  for (const auto& f : spec.flags) items.push_back(synopsis_item(f));
  for (const auto& item : items) {
    if (col + 1 + item.size() > kWidth && col > head.size()) {
      out += '\n';
      out.append(head.size(), ' ');
      col = head.size();
    }
    out += ' ';
    out += item;
    col += 1 + item.size();
  }
  out += "\n";
  if (!spec.description.empty()) {
    out += "  ";
    append_wrapped(out, spec.description, 2, 2);
    out += "\n";
  }
  if (spec.operand) {
    std::string right = spec.operand->help;
    if (!spec.operand->choices.empty()) right += " (" + join_choices(spec.operand->choices, ", ", " or ") + ")";
    out += "\narguments:\n" + format_rows({{spec.operand->name, right}});
  }
  if (!spec.flags.empty()) {
    out += "\nflags:\n";
    std::vector<std::pair<std::string, std::string>> rows;
    for (const auto& f : spec.flags) {
      std::string left = f.name;
      if (f.kind != FlagKind::Bool) left += " " + f.value_name + (f.takes_rest ? "..." : "");
      std::vector<std::string> notes;
      if (!f.only_flag.empty())
        notes.push_back("only with " + f.only_flag + " " + join_choices(f.only_values, ", ", " or "));
      if (f.is_required) notes.push_back("required");
      if (f.kind == FlagKind::Repeated) notes.push_back("repeatable");
      if (f.default_value) notes.push_back("default: " + (f.default_value->empty() ? "\"\"" : *f.default_value));
      std::string right = f.help;
      for (size_t i = 0; i < notes.size(); ++i) right += (i == 0 ? " (" : ", ") + notes[i];
      if (!notes.empty()) right += ")";
      rows.emplace_back(std::move(left), std::move(right));
    }
    out += format_rows(rows);
  }
  if (spec.more_help) out += "\n" + spec.more_help();
  out += format_examples(spec.examples);
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

std::string format_examples(const std::vector<Example>& examples) {
  if (examples.empty()) return "";
  std::string out = "\nexamples:\n";
  for (const auto& e : examples) {
    if (!e.comment.empty()) out += "  # " + e.comment + "\n";
    out += "  " + e.command + "\n";
  }
  return out;
}

}  // namespace lm::cli
