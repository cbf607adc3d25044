// Declared flags: each command lists its flags once (name, value name, default, help) in a CommandSpec; that list
// drives parsing (undeclared flag, missing value, wrong type, bad choice, missing required flag: one usage error
// naming the flag, exit 2), the `lmcpp CMD --help` text (usage line, description, one line per flag, examples) and
// `lmcpp completion bash`. A command reads its values from the parsed Flags by name; reading an undeclared name or
// the wrong kind is a bug (Internal).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace lm::cli {

enum class FlagKind { String, Int, Double, Bool, Repeated };

struct FlagSpec {
  std::string name{};        // "--tokenizer"
  FlagKind kind = FlagKind::String;
  std::string value_name{};  // "DIR" in "--tokenizer DIR"; empty for Bool
  std::optional<std::string> default_value{};  // parsed like a given value when the flag is absent; in --help
  std::string help{};
  bool is_required = false;
  bool takes_rest = false;             // Repeated: the plain tokens after it are more values ("--input a b c")
  std::vector<std::string> choices{};  // String: the accepted values (empty: any)
  std::string only_flag{};                  // set: this flag may be given only when only_flag's value (given or
  std::vector<std::string> only_values{};   // default) is one of only_values ("--stride" only with "--task lm")

  FlagSpec required() const;  // a copy that must be given
  FlagSpec rest() const;      // a Repeated copy that also takes the plain tokens after it
  // A copy that applies only when `flag` (a String flag of the same command) has one of `values`: given with
  // another value it is a usage error naming both flags; --help says "only with --task lm".
  FlagSpec only_with(std::string flag, std::vector<std::string> values) const;
};

// The declarations, one per kind. Defaults are values (written as text once, here); the help says what they mean.
FlagSpec string_flag(std::string name, std::string value_name, std::string help);
FlagSpec string_flag(std::string name, std::string value_name, std::string default_value, std::string help);
FlagSpec choice_flag(std::string name, std::vector<std::string> choices, std::optional<std::string> default_value,
                     std::string help);
FlagSpec int_flag(std::string name, std::string value_name, int64_t default_value, std::string help);
// An Int flag without a default (the command picks one when it is not given(): evaluate's per-task --max-length).
FlagSpec int_flag(std::string name, std::string value_name, std::string help);
FlagSpec double_flag(std::string name, std::string value_name, double default_value, std::string help);
FlagSpec bool_flag(std::string name, std::string help);
FlagSpec repeated_flag(std::string name, std::string value_name, std::string help);
// --adapter DIR of the inference commands: a PEFT LoRA directory applied unmerged on --model.
FlagSpec adapter_flag();

// One example of `lmcpp CMD --help`: a runnable command line ("lmcpp generate --model out/gpt ..."; it may start
// with a pipe into lmcpp: echo "Hi" | lmcpp tokenize ...) and an optional one-line comment. A test parses the
// tokens after the command name with the command's own parser.
struct Example {
  std::string command{};
  std::string comment{};
};

// The one plain argument a command may take ("lmcpp help [COMMAND]", "lmcpp completion SHELL").
struct OperandSpec {
  std::string name{};                  // "COMMAND"; an operand named COMMAND completes with the command names
  std::string help{};
  bool is_required = false;
  std::vector<std::string> choices{};  // the accepted values (empty: any)
};

// A declared command: what `lmcpp CMD --help` prints and what its parser accepts.
struct CommandSpec {
  std::string name{};
  std::string summary{};      // one line for `lmcpp --help`
  std::string description{};  // free text under the usage line ("\n" starts a new line; lines are re-wrapped)
  std::vector<FlagSpec> flags{};
  std::function<std::string()> more_help{};  // an extra --help section after the flags (train: its config keys)
  std::optional<OperandSpec> operand{};       // none: a plain argument is a usage error
  std::vector<Example> examples{};            // 1-3, the last section of --help
};

// The values of one command line, parsed and checked against a CommandSpec.
class Flags {
 public:
  // Throws InvalidArgument (exit 2) naming the flag for: an undeclared flag, a stray argument, a missing value, a
  // value of the wrong type or not among the choices, a missing required flag, a flag given where its only_with
  // condition does not hold. --help / -h are skipped.
  static Flags parse(const CommandSpec& spec, const std::vector<std::string>& argv);

  const std::string& command() const { return command_; }
  bool given(const std::string& name) const;                       // on the command line (any kind)
  std::string str(const std::string& name) const;                  // String: given or default ("" if neither)
  std::optional<std::string> get(const std::string& name) const;   // String: given or default, else nullopt
  int64_t i64(const std::string& name) const;                      // Int: given or default
  double f64(const std::string& name) const;                       // Double: given or default
  bool on(const std::string& name) const;                          // Bool
  const std::vector<std::string>& all(const std::string& name) const;  // Repeated, in command-line order
  const std::optional<std::string>& operand() const { return operand_; }  // the plain argument, if given

 private:
  const FlagSpec& spec_of(const std::string& name, FlagKind kind) const;
  std::optional<std::string> value_or_default(const FlagSpec& f) const;

  std::string command_;
  const std::vector<FlagSpec>* specs_ = nullptr;
  std::map<std::string, std::vector<std::string>> values_;  // every occurrence; Bool: "true" / "false"
  std::optional<std::string> operand_;
};

// True when argv holds --help or -h (never taken as a flag's value).
bool help_requested(const std::vector<std::string>& argv);

// `lmcpp CMD --help`: "usage: lmcpp CMD ..." built from the flags, the description, "flags:" with one line per flag
// (value name, help, default / required / repeatable), then more_help(), then the examples.
std::string generate_help(const CommandSpec& spec);

// The "examples:" section closing a --help text: each command line, its comment (if any) on the line above as
// "# comment". Empty for no examples.
std::string format_examples(const std::vector<Example>& examples);

// Two-column help rows ("  left   right"), right column word-wrapped; shared by flags and config-key listings.
std::string format_rows(const std::vector<std::pair<std::string, std::string>>& rows);

// The value checks the parser applies (and Args reuses, so the errors read the same): "{name} expects an integer,
// got '{v}', in lmcpp {command}" and so on.
int64_t parse_int_value(const std::string& name, const std::string& v, const std::string& command);
double parse_double_value(const std::string& name, const std::string& v, const std::string& command);

}  // namespace lm::cli
