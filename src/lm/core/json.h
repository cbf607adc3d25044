// JSON for configs, metadata and CLI output: nlohmann::json (Debian nlohmann-json3-dev), with helpers that turn
// parse errors into lm::Error naming the file and byte offset.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace lm {

using Json = nlohmann::json;
// Keys in insertion order: CLI --json lines that read best in a fixed order ({"bench": ..., "tokens_per_s": ...}).
using OrderedJson = nlohmann::ordered_json;

// Parses text; `where` names the source for error messages.
Json parse_json(const std::string& text, const std::string& where);
Json read_json_file(const std::string& path);

}  // namespace lm
