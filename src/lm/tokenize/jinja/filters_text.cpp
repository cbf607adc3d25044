// Text and sequence-shaping filters of jinja2 (center, wordcount, truncate, format, batch), registered in
// filters.cpp.
#include "lm/tokenize/jinja/eval.h"
#include "lm/tokenize/jinja/filter_args.h"
#include "lm/tokenize/unicode.h"

namespace lm::jinja {


Value f_center(Evaluator&, const Value& v, CallArgs& a) {
  const int64_t width = std::min<int64_t>(arg_int(a, 0, "width", 80), 1 << 20);
  const std::string s = py_str(v);
  const int64_t n = static_cast<int64_t>(unicode::count_codepoints(s));
  if (width <= n) return marked_string(s, v);
  const int64_t marg = width - n;
  const int64_t left = marg / 2 + (marg & width & 1);
  return marked_string(
      std::string(static_cast<size_t>(left), ' ') + s + std::string(static_cast<size_t>(marg - left), ' '),
      v);
}

Value f_wordcount(Evaluator&, const Value& v, CallArgs&) {
  const std::string s = py_str(v);
  int64_t n = 0;
  bool in_word = false;
  for (size_t i = 0; i < s.size();) {
    int len = 1;
    const int32_t cp = unicode::decode_utf8(s, i, len);
    const bool w =
        cp == '_' || unicode::is_letter(cp) || unicode::is_number(cp) || unicode::is_mark_nonspacing(cp);
    if (w && !in_word) ++n;
    in_word = w;
    i += len;
  }
  return Value::integer(n);
}

Value f_truncate(Evaluator&, const Value& v, CallArgs& a) {
  const std::string s = py_str(v);
  const int64_t length = arg_int(a, 0, "length", 255);
  const bool killwords = arg_bool(a, 1, "killwords");
  const Value* endv = arg(a, 2, "end");
  const std::string end = endv ? py_str(*endv) : "...";
  const int64_t leeway = arg_int(a, 3, "leeway", 5);
  const auto cps = pystr::codepoints(s);
  const int64_t n = static_cast<int64_t>(cps.size());
  if (length < static_cast<int64_t>(unicode::count_codepoints(end)))
    throw EvalError("expected length >= len(end)");
  if (leeway < 0) throw EvalError("expected leeway >= 0");
  if (n <= length + leeway) return v.is_string() ? v : marked_string(s, v);
  const int64_t keep = length - static_cast<int64_t>(unicode::count_codepoints(end));
  std::string head = s.substr(0, keep < n ? cps[static_cast<size_t>(keep)].first : s.size());
  if (!killwords) {
    const size_t sp = head.rfind(' ');
    if (sp != std::string::npos) head.resize(sp);
  }
  return marked_string(head + end, v);
}

Value f_format(Evaluator&, const Value& v, CallArgs& a) {
  if (!a.args.empty() && !a.kwargs.empty())
    throw EvalError("can't handle positional and keyword arguments at the same time");
  Value args;
  if (!a.kwargs.empty()) {
    auto d = std::make_shared<DictObj>();
    for (const auto& [k, x] : a.kwargs) d->set(Value::string(k), x);
    args = Value::dict(d);
  } else {
    args = Value::list(a.args, true);
  }
  return Value::string(pystr::printf_format(py_str(v), args), contains_marked(v) || contains_marked(args));
}

Value f_batch(Evaluator& ev, const Value& v, CallArgs& a) {
  const int64_t n = arg_int(a, 0, "linecount", 0);
  if (n <= 0) throw EvalError("batch size must be positive");
  const Value* fill = arg(a, 1, "fill_with");
  std::vector<Value> out, cur;
  for (const auto& x : ev.iterate(v)) {
    cur.push_back(x);
    if (static_cast<int64_t>(cur.size()) == n) out.push_back(Value::list(std::move(cur))), cur.clear();
  }
  if (!cur.empty()) {
    if (fill && !fill->is_none())
      while (static_cast<int64_t>(cur.size()) < n) cur.push_back(*fill);
    out.push_back(Value::list(std::move(cur)));
  }
  return Value::iterator(std::move(out));
}

}  // namespace lm::jinja
