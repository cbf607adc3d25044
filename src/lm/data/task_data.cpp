// Classification and QA readers, and SQuAD metrics.
#include "lm/data/task_data.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <map>
#include <set>
#include <unordered_map>

#include "lm/core/error.h"
#include "lm/core/file_util.h"
#include "lm/core/json.h"
#include "lm/data/text_input.h"

namespace lm {
namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::vector<std::string> split_tabs(std::string_view line) {
  std::vector<std::string> out;
  size_t p = 0;
  for (;;) {
    size_t t = line.find('\t', p);
    out.emplace_back(line.substr(p, t == std::string_view::npos ? std::string_view::npos : t - p));
    if (t == std::string_view::npos) break;
    p = t + 1;
  }
  return out;
}

bool parse_int_label(const std::string& s, int64_t* v) {
  if (s.empty()) return false;
  errno = 0;
  char* end = nullptr;
  long long x = std::strtoll(s.c_str(), &end, 10);
  if (*end != 0 || errno != 0 || x < 0 || x > 1'000'000) return false;
  *v = x;
  return true;
}

struct RawRow {
  std::string text, text_pair, label;
  int64_t line = 0;
};

// Lines of a (possibly compressed) file with "\r\n" endings tolerated and UTF-8 checked.
std::vector<std::pair<int64_t, std::string>> read_lines(const std::string& path) {
  std::vector<std::pair<int64_t, std::string>> lines;
  read_text_file(path, TextSplit::PerFile, [&](Document& d) {
    size_t p = 0;
    int64_t n = 0;
    while (p <= d.text.size()) {
      size_t e = d.text.find('\n', p);
      if (e == std::string::npos) e = d.text.size();
      std::string l = d.text.substr(p, e - p);
      if (!l.empty() && l.back() == '\r') l.pop_back();
      ++n;
      if (!l.empty()) lines.emplace_back(n, std::move(l));
      p = e + 1;
    }
    return true;
  });
  return lines;
}

std::vector<RawRow> read_jsonl_rows(const std::string& path) {
  std::vector<RawRow> rows;
  for (auto& [ln, line] : read_lines(path)) {
    Json j;
    try {
      j = Json::parse(line);
    } catch (const Json::exception& e) {
      LM_THROW(ErrorCode::BadFormat, "invalid JSON in {}:{}: {}", path, ln, e.what());
    }
    LM_CHECK_AS(ErrorCode::BadFormat, j.is_object(), "{}:{}: expected a JSON object", path, ln);
    RawRow r;
    r.line = ln;
    for (const char* k : {"text", "sentence", "sentence1", "question"})
      if (j.contains(k) && j[k].is_string()) {
        r.text = j[k].get<std::string>();
        break;
      }
    for (const char* k : {"text_pair", "sentence2", "text_b"})
      if (j.contains(k) && j[k].is_string()) {
        r.text_pair = j[k].get<std::string>();
        break;
      }
    LM_CHECK_AS(ErrorCode::BadFormat, !r.text.empty(), "{}:{}: no \"text\" (or \"sentence\") string", path,
                ln);
    LM_CHECK_AS(ErrorCode::BadFormat, j.contains("label"), "{}:{}: no \"label\"", path, ln);
    const Json& l = j["label"];
    if (l.is_number_integer())
      r.label = std::to_string(l.get<int64_t>());
    else if (l.is_string())
      r.label = l.get<std::string>();
    else
      LM_THROW(ErrorCode::BadFormat, "{}:{}: \"label\" must be an integer or a string", path, ln);
    rows.push_back(std::move(r));
  }
  return rows;
}

std::vector<RawRow> read_tsv_rows(const std::string& path,
                                  const std::vector<std::pair<int64_t, std::string>>& lines) {
  std::vector<RawRow> rows;
  if (lines.empty()) return rows;
  // GLUE-style header row names the columns; otherwise label first.
  auto head = split_tabs(lines[0].second);
  int text_col = 1, pair_col = head.size() > 2 ? 2 : -1, label_col = 0;
  size_t first = 0;
  auto has = [&](const char* n) { return std::find(head.begin(), head.end(), n) != head.end(); };
  if (has("label")) {
    first = 1;
    label_col = static_cast<int>(std::find(head.begin(), head.end(), "label") - head.begin());
    text_col = pair_col = -1;
    for (const char* n : {"sentence", "text", "sentence1", "question"})
      if (has(n) && text_col < 0)
        text_col = static_cast<int>(std::find(head.begin(), head.end(), n) - head.begin());
    for (const char* n : {"sentence2", "text_pair", "text_b"})
      if (has(n) && pair_col < 0)
        pair_col = static_cast<int>(std::find(head.begin(), head.end(), n) - head.begin());
    LM_CHECK_AS(ErrorCode::BadFormat, text_col >= 0, "{}:1: header has no sentence/text column", path);
  }
  for (size_t i = first; i < lines.size(); ++i) {
    auto cols = split_tabs(lines[i].second);
    int need = std::max({text_col, label_col, pair_col});
    LM_CHECK_AS(ErrorCode::BadFormat, static_cast<int>(cols.size()) > need,
                "{}:{}: expected {} tab-separated columns", path, lines[i].first, need + 1);
    RawRow r;
    r.line = lines[i].first;
    r.label = cols[static_cast<size_t>(label_col)];
    r.text = cols[static_cast<size_t>(text_col)];
    if (pair_col >= 0) r.text_pair = cols[static_cast<size_t>(pair_col)];
    rows.push_back(std::move(r));
  }
  return rows;
}

// Byte offset of code point `cp` in UTF-8 `s` (npos past the end).
size_t codepoint_to_byte(std::string_view s, int64_t cp) {
  int64_t n = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) continue;
    if (n == cp) return i;
    ++n;
  }
  return n == cp ? s.size() : std::string_view::npos;
}

void add_answer(QaExample& ex, const std::string& text, int64_t start_cp, const std::string& where) {
  size_t b = start_cp >= 0 ? codepoint_to_byte(ex.context, start_cp) : std::string::npos;
  if (b == std::string::npos || ex.context.compare(b, text.size(), text) != 0) {
    // Offset missing or off: fall back to the first occurrence of the answer.
    b = ex.context.find(text);
    LM_CHECK_AS(ErrorCode::BadFormat, b != std::string::npos && !text.empty(),
                "{}: answer \"{}\" of question {} not found in its context", where, text, ex.id);
  }
  ex.answers.push_back(text);
  ex.answer_starts.push_back(static_cast<int64_t>(b));
}

}  // namespace

ClassificationData read_classification(const std::string& path, const std::vector<std::string>& given_names) {
  std::vector<RawRow> rows;
  if (ends_with(path, ".jsonl") || ends_with(path, ".json") || ends_with(path, ".jsonl.gz")) {
    rows = read_jsonl_rows(path);
  } else {
    auto lines = read_lines(path);
    bool tsv = ends_with(path, ".tsv") || (!lines.empty() && lines[0].second.find('\t') != std::string::npos);
    if (tsv) {
      rows = read_tsv_rows(path, lines);
    } else {
      // SST: "<label> <sentence>".
      for (auto& [ln, line] : lines) {
        size_t sp = line.find(' ');
        LM_CHECK_AS(ErrorCode::BadFormat, sp != std::string::npos && sp > 0,
                    "{}:{}: expected \"<label> <sentence>\"", path, ln);
        rows.push_back({line.substr(sp + 1), "", line.substr(0, sp), ln});
      }
    }
  }
  LM_CHECK_AS(ErrorCode::BadFormat, !rows.empty(), "{} holds no examples", path);
  ClassificationData out;
  std::unordered_map<std::string, int32_t> ids;
  if (!given_names.empty()) {
    out.label_names = given_names;
  } else {
    bool all_int = true;
    int64_t max_int = -1, v;
    std::set<std::string> names;
    for (auto& r : rows) {
      if (parse_int_label(r.label, &v))
        max_int = std::max(max_int, v);
      else
        all_int = false;
      names.insert(r.label);
    }
    if (all_int) {
      for (int64_t i = 0; i <= max_int; ++i) out.label_names.push_back(std::to_string(i));
    } else {
      out.label_names.assign(names.begin(), names.end());
    }
  }
  for (size_t i = 0; i < out.label_names.size(); ++i) ids[out.label_names[i]] = static_cast<int32_t>(i);
  for (auto& r : rows) {
    auto it = ids.find(r.label);
    LM_CHECK_AS(ErrorCode::BadFormat, it != ids.end(), "{}:{}: unknown label \"{}\" ({} known)", path, r.line,
                r.label, out.label_names.size());
    out.examples.push_back({std::move(r.text), std::move(r.text_pair), it->second});
  }
  return out;
}

std::vector<QaExample> read_qa(const std::string& path) {
  std::vector<QaExample> out;
  bool jsonl = ends_with(path, ".jsonl");
  if (!jsonl) {
    Json j = read_json_file(path);
    LM_CHECK_AS(ErrorCode::BadFormat, j.is_object() && j.contains("data") && j["data"].is_array(),
                "{}: expected SQuAD JSON {{\"data\": [...]}}", path);
    try {
      for (const auto& art : j["data"])
        for (const auto& para : art.at("paragraphs")) {
          std::string context = para.at("context").get<std::string>();
          for (const auto& qa : para.at("qas")) {
            QaExample ex;
            ex.context = context;
            ex.id = qa.contains("id") ? qa["id"].get<std::string>() : std::to_string(out.size());
            ex.question = qa.at("question").get<std::string>();
            ex.impossible = qa.contains("is_impossible") && qa["is_impossible"].get<bool>();
            for (const auto& a : qa.at("answers"))
              add_answer(ex, a.at("text").get<std::string>(), a.at("answer_start").get<int64_t>(), path);
            LM_CHECK_AS(ErrorCode::BadFormat, ex.impossible || !ex.answers.empty(),
                        "{}: question {} has no answer", path, ex.id);
            out.push_back(std::move(ex));
          }
        }
    } catch (const Json::exception& e) {
      LM_THROW(ErrorCode::BadFormat, "{}: not SQuAD JSON: {}", path, e.what());
    }
    return out;
  }
  for (auto& [ln, line] : read_lines(path)) {
    std::string where = fmt::format("{}:{}", path, ln);
    Json j;
    try {
      j = Json::parse(line);
    } catch (const Json::exception& e) {
      LM_THROW(ErrorCode::BadFormat, "invalid JSON in {}: {}", where, e.what());
    }
    LM_CHECK_AS(ErrorCode::BadFormat,
                j.is_object() && j.contains("question") && j["question"].is_string() &&
                    j.contains("context") && j["context"].is_string(),
                "{}: expected an object with string \"question\" and \"context\"", where);
    QaExample ex;
    ex.id = j.contains("id") && j["id"].is_string() ? j["id"].get<std::string>() : std::to_string(ln);
    ex.question = j["question"].get<std::string>();
    ex.context = j["context"].get<std::string>();
    try {
      if (j.contains("answers") && j["answers"].is_object()) {  // HF datasets layout
        const auto& a = j["answers"];
        for (size_t k = 0; k < a.at("text").size(); ++k)
          add_answer(ex, a["text"][k].get<std::string>(),
                     a.contains("answer_start") ? a["answer_start"][k].get<int64_t>() : -1, where);
      } else if (j.contains("answers") && j["answers"].is_array()) {
        for (const auto& a : j["answers"])
          add_answer(ex, a.is_string() ? a.get<std::string>() : a.at("text").get<std::string>(),
                     a.is_object() && a.contains("answer_start") ? a["answer_start"].get<int64_t>() : -1,
                     where);
      } else if (j.contains("answer")) {
        add_answer(ex, j["answer"].get<std::string>(),
                   j.contains("answer_start") ? j["answer_start"].get<int64_t>() : -1, where);
      }
    } catch (const Json::exception& e) {
      LM_THROW(ErrorCode::BadFormat, "{}: bad answer field: {}", where, e.what());
    }
    ex.impossible = ex.answers.empty();
    out.push_back(std::move(ex));
  }
  return out;
}

std::string squad_normalize(std::string_view s) {
  std::string lower;
  for (char c : s) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x80 && std::ispunct(u)) continue;
    lower += static_cast<char>(std::tolower(u));
  }
  std::string out;
  size_t p = 0;
  while (p < lower.size()) {
    while (p < lower.size() && std::isspace(static_cast<unsigned char>(lower[p]))) ++p;
    size_t e = p;
    while (e < lower.size() && !std::isspace(static_cast<unsigned char>(lower[e]))) ++e;
    if (e > p) {
      std::string_view w(lower.data() + p, e - p);
      if (w != "a" && w != "an" && w != "the") {
        if (!out.empty()) out += ' ';
        out.append(w);
      }
    }
    p = e;
  }
  return out;
}

double squad_exact_match(std::string_view prediction, const std::vector<std::string>& answers) {
  std::string p = squad_normalize(prediction);
  for (const auto& a : answers)
    if (squad_normalize(a) == p) return 1.0;
  return 0.0;
}

double squad_f1(std::string_view prediction, const std::vector<std::string>& answers) {
  auto words = [](const std::string& s) {
    std::vector<std::string> w;
    size_t p = 0;
    while (p < s.size()) {
      size_t e = s.find(' ', p);
      if (e == std::string::npos) e = s.size();
      if (e > p) w.push_back(s.substr(p, e - p));
      p = e + 1;
    }
    return w;
  };
  auto pw = words(squad_normalize(prediction));
  double best = 0;
  for (const auto& a : answers) {
    auto aw = words(squad_normalize(a));
    if (pw.empty() || aw.empty()) {
      best = std::max(best, pw == aw ? 1.0 : 0.0);
      continue;
    }
    std::map<std::string, int> count;
    for (auto& w : aw) ++count[w];
    int common = 0;
    for (auto& w : pw)
      if (count[w]-- > 0) ++common;
    if (common == 0) continue;
    double prec = static_cast<double>(common) / static_cast<double>(pw.size());
    double rec = static_cast<double>(common) / static_cast<double>(aw.size());
    best = std::max(best, 2 * prec * rec / (prec + rec));
  }
  return best;
}

}  // namespace lm
