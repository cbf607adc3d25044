// The bash completion script of `lmcpp completion bash`, generated from the command registry (see completion.h).
// The script is one function, _lmcpp, over three generated case tables: the flags of each command (or bench
// subcommand), how the value of each flag completes (choices, file names, directory names, nothing), and the
// operand words of the commands that take one.
#include "completion.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <sstream>

#include "lm/core/error.h"

namespace lm::cli {
namespace {

std::vector<std::string> split_ws(const std::string& line) {
  std::vector<std::string> words;
  std::istringstream in(line);
  for (std::string w; in >> w;) words.push_back(w);
  return words;
}

std::string strip(std::string w, const char* chars) {
  while (!w.empty() && std::string(chars).find(w.front()) != std::string::npos) w.erase(0, 1);
  while (!w.empty() && std::string(chars).find(w.back()) != std::string::npos) w.pop_back();
  return w;
}

std::vector<std::string> split_choices(const std::string& v) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= v.size()) {
    size_t bar = v.find('|', pos);
    if (bar == std::string::npos) bar = v.size();
    if (bar > pos) out.push_back(v.substr(pos, bar - pos));
    pos = bar + 1;
  }
  return out;
}

// A value name is upper case before any extension ("N", "DIR", "FILE.json"); a choice list shows its values
// literally ("f32|bf16", "bert-base"), one of them at least not such a name.
bool is_value_name(const std::string& c) {
  const std::string stem = c.substr(0, c.find('.'));
  return !stem.empty() && std::isupper(static_cast<unsigned char>(stem[0])) != 0 &&
         std::none_of(stem.begin(), stem.end(), [](char ch) { return std::islower(static_cast<unsigned char>(ch)); });
}

bool is_choice_list(const std::string& v) {
  const std::vector<std::string> parts = split_choices(v);
  return !std::all_of(parts.begin(), parts.end(), is_value_name);
}

void add_flag(std::vector<CompletionFlag>& flags, CompletionFlag f) {
  for (auto& g : flags) {
    if (g.name != f.name) continue;
    for (auto& c : f.choices)
      if (std::find(g.choices.begin(), g.choices.end(), c) == g.choices.end()) g.choices.push_back(c);
    if (g.value_name.empty()) g.value_name = f.value_name;
    return;
  }
  flags.push_back(std::move(f));
}

// The flags one synopsis line shows: "[--flag]" is a switch, "[--flag VALUE]" takes a value.
void parse_synopsis_flags(const std::vector<std::string>& words, size_t from, std::vector<CompletionFlag>& flags) {
  for (size_t i = from; i < words.size(); ++i) {
    const std::string w = strip(words[i], "[");
    if (w.rfind("--", 0) != 0) continue;
    CompletionFlag f;
    f.name = strip(w, "]");
    const bool closed = w.back() == ']';
    if (!closed && i + 1 < words.size() && words[i + 1][0] != '[' && words[i + 1].rfind("--", 0) != 0) {
      const std::string v = strip(words[++i], "]");
      if (is_choice_list(v)) f.choices = split_choices(v);
      f.value_name = v;
    }
    add_flag(flags, std::move(f));
  }
}

bool is_word(const std::string& w) {
  return !w.empty() && std::all_of(w.begin(), w.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || std::string("-_.:+=,/").find(c) != std::string::npos;
  });
}

// Words go into the script unquoted: anything else in a declaration is a bug.
std::string words(const std::vector<std::string>& ws) {
  std::string s;
  for (const auto& w : ws) {
    LM_CHECK_AS(ErrorCode::Internal, is_word(w), "completion: '{}' is not a plain word", w);
    s += (s.empty() ? "" : " ") + w;
  }
  return s;
}

struct Entry {
  std::string key;  // "generate", "bench train"
  std::vector<CompletionFlag> flags;
};

void emit_value_cases(std::string& out, const std::vector<Entry>& entries) {
  out += "_lmcpp_value() {  # $1: command key, $2: a flag; completes its value, or returns 1 for a switch\n"
         "  case \"$1 $2\" in\n";
  for (const auto& e : entries)
    for (const auto& f : e.flags) {
      if (f.value_name.empty()) continue;
      const std::string label = fmt::format("    \"{} {}\")", e.key, f.name);
      if (!f.choices.empty())
        out += fmt::format("{} _lmcpp_words \"{}\" ;;\n", label, words(f.choices));
      else if (const char k = path_kind(f.value_name))
        out += fmt::format("{} _lmcpp_path {} ;;\n", label, k);
      else
        out += label + " COMPREPLY=() ;;\n";
    }
  out += "    *) return 1 ;;\n  esac\n}\n";
}

void emit_rest_cases(std::string& out, const std::vector<Entry>& entries) {
  out += "_lmcpp_rest() {  # $1: command key, $2: a flag taking the words after it; completes one more\n"
         "  case \"$1 $2\" in\n";
  for (const auto& e : entries)
    for (const auto& f : e.flags)
      if (f.takes_rest)
        out += fmt::format("    \"{} {}\") _lmcpp_path {} ;;\n", e.key, f.name,
                           path_kind(f.value_name) != 0 ? path_kind(f.value_name) : 'f');
  out += "    *) return 1 ;;\n  esac\n}\n";
}

}  // namespace

char path_kind(const std::string& v) {
  if (v.find("FILE") != std::string::npos || v.find("PATH") != std::string::npos) return 'f';
  if (v == "DIR") return 'd';
  // OUT.json, X.safetensors: an upper-case name with an extension.
  const size_t dot = v.find('.');
  if (dot != std::string::npos && dot > 0 && std::isupper(static_cast<unsigned char>(v[0]))) return 'f';
  return 0;
}

UsageSynopsis parse_usage_synopsis(const std::string& command, const std::string& usage) {
  UsageSynopsis s;
  std::istringstream in(usage);
  std::vector<CompletionFlag>* current = nullptr;
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string> w = split_ws(line);
    if (w.empty()) continue;
    size_t from = 0;
    if (w[0] == "usage:") from = 1;
    if (from < w.size() && w[from] == "lmcpp") {
      if (from + 1 >= w.size() || w[from + 1] != command) continue;
      std::string sub;
      from += 2;
      if (from < w.size() && w[from][0] != '[' && w[from].rfind("--", 0) != 0) sub = w[from++];
      auto it = std::find_if(s.subcommands.begin(), s.subcommands.end(), [&](auto& p) { return p.first == sub; });
      if (it == s.subcommands.end()) {
        s.subcommands.emplace_back(sub, std::vector<CompletionFlag>{});
        it = s.subcommands.end() - 1;
      }
      current = &it->second;
    } else if (w[0][0] != '[') {
      current = nullptr;  // prose: not part of a synopsis
      continue;
    }
    if (current != nullptr) parse_synopsis_flags(w, from, *current);
  }
  return s;
}

std::vector<CompletionFlag> completion_flags(const CommandSpec& spec) {
  std::vector<CompletionFlag> flags;
  for (const auto& f : spec.flags)
    flags.push_back({.name = f.name, .value_name = f.kind == FlagKind::Bool ? "" : f.value_name,
                     .choices = f.choices, .takes_rest = f.takes_rest});
  return flags;
}

std::string bash_completion_script(const std::vector<Command>& commands) {
  std::vector<const Command*> cmds;
  for (const auto& c : commands) cmds.push_back(&c);
  std::sort(cmds.begin(), cmds.end(), [](const Command* a, const Command* b) { return a->name < b->name; });
  std::vector<std::string> names;
  for (const Command* c : cmds) names.push_back(c->name);
  std::vector<Entry> entries;
  std::string subs_case, operand_case;
  for (const Command* c : cmds) {
    if (c->spec) {
      entries.push_back({c->name, completion_flags(*c->spec)});
      if (const auto& op = c->spec->operand)
        operand_case += fmt::format("    {}) _lmcpp_words \"{}\" ;;\n", c->name,
                                    words(op->name == "COMMAND" ? names : op->choices));
      continue;
    }
    const UsageSynopsis u = parse_usage_synopsis(c->name, c->usage);
    std::vector<std::string> sub_names;
    for (const auto& [sub, flags] : u.subcommands) {
      entries.push_back({sub.empty() ? c->name : c->name + " " + sub, flags});
      if (!sub.empty()) sub_names.push_back(sub);
    }
    if (!sub_names.empty()) subs_case += fmt::format("    {}) _lmcpp_words \"{}\" ;;\n", c->name, words(sub_names));
  }
  std::string out =
      "# bash completion for lmcpp, generated by `lmcpp completion bash` from its command registry.\n"
      "# Install: source <(lmcpp completion bash)  (in ~/.bashrc), or save it once:\n"
      "#   lmcpp completion bash > ~/.local/share/bash-completion/completions/lmcpp\n"
      "_lmcpp_words() { mapfile -t COMPREPLY < <(compgen -W \"$1\" -- \"$cur\"); }\n"
      "_lmcpp_path() {\n"
      "  compopt -o filenames 2>/dev/null\n"
      "  mapfile -t COMPREPLY < <(compgen -\"$1\" -- \"$cur\")\n"
      "}\n"
      "_lmcpp_flags() {  # $1: command key (\"generate\", \"bench train\"): its flags\n"
      "  case \"$1\" in\n";
  for (const auto& e : entries) {
    std::vector<std::string> fl;
    for (const auto& f : e.flags) fl.push_back(f.name);
    out += fmt::format("    \"{}\") echo \"{}\" ;;\n", e.key, words(fl));
  }
  out += "  esac\n}\n";
  out += "_lmcpp_subcommand() {  # $1: a command with subcommands: completes their names, else returns 1\n"
         "  case \"$1\" in\n" + subs_case + "    *) return 1 ;;\n  esac\n}\n";
  out += "_lmcpp_operand() {  # $1: a command taking a plain argument: completes it, else returns 1\n"
         "  case \"$1\" in\n" + operand_case + "    *) return 1 ;;\n  esac\n}\n";
  emit_value_cases(out, entries);
  emit_rest_cases(out, entries);
  out += fmt::format(
      "_lmcpp() {{\n"
      "  local cur=\"${{COMP_WORDS[COMP_CWORD]}}\" prev=\"${{COMP_WORDS[COMP_CWORD-1]}}\" key first=2 j\n"
      "  COMPREPLY=()\n"
      "  if (( COMP_CWORD == 1 )); then _lmcpp_words \"{} --help --version\"; return 0; fi\n"
      "  key=\"${{COMP_WORDS[1]}}\"\n"
      "  if (( COMP_CWORD == 2 )) && [[ \"$cur\" != -* ]] && _lmcpp_subcommand \"$key\"; then return 0; fi\n"
      "  if _lmcpp_subcommand \"$key\" >/dev/null; then key=\"$key ${{COMP_WORDS[2]}}\"; first=3; fi\n"
      "  COMPREPLY=()\n"
      "  if _lmcpp_value \"$key\" \"$prev\"; then return 0; fi\n"
      "  if [[ \"$cur\" != -* ]]; then\n"
      "    for (( j = COMP_CWORD - 1; j >= first; j-- )); do\n"
      "      if [[ \"${{COMP_WORDS[j]}}\" == --* ]]; then\n"
      "        _lmcpp_rest \"$key\" \"${{COMP_WORDS[j]}}\" && return 0\n"
      "        break\n"
      "      fi\n"
      "    done\n"
      "    _lmcpp_operand \"$key\" && return 0\n"
      "  fi\n"
      "  _lmcpp_words \"$(_lmcpp_flags \"$key\") --help\"\n"
      "}}\n"
      "complete -F _lmcpp lmcpp\n",
      words(names));
  return out;
}

}  // namespace lm::cli
