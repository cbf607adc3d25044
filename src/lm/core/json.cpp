// JSON parsing with located errors.
#include "lm/core/json.h"

#include "lm/core/error.h"
#include "lm/core/file_util.h"

namespace lm {

Json parse_json(const std::string& text, const std::string& where) {
  try {
    return Json::parse(text);
  } catch (const Json::parse_error& e) {
    LM_THROW(ErrorCode::BadFormat, "invalid JSON in {} at byte {}: {}", where, e.byte, e.what());
  } catch (const Json::exception& e) {
    // Not only syntax: e.g. out_of_range 406 for a number literal that overflows a double.
    LM_THROW(ErrorCode::BadFormat, "invalid JSON in {}: {}", where, e.what());
  }
}

Json read_json_file(const std::string& path) { return parse_json(read_file(path), path); }

}  // namespace lm
