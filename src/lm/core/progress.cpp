// Progress line with rate and ETA.
#include "lm/core/progress.h"

#include <cstdint>

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>

namespace lm {

std::string format_duration(double s) {
  if (s < 0 || s != s) return "?";
  long t = static_cast<long>(s + 0.5);
  if (t >= 3600) return fmt::format("{}h{:02d}m", t / 3600, (t / 60) % 60);
  if (t >= 60) return fmt::format("{}m{:02d}s", t / 60, t % 60);
  return fmt::format("{}s", t);
}

std::string format_count(int64_t n) {
  std::string digits = std::to_string(n < 0 ? -static_cast<uint64_t>(n) : static_cast<uint64_t>(n));
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return n < 0 ? "-" + out : out;
}

Progress::Progress(std::string label, double total, std::string unit, double interval_s)
    : label_(std::move(label)), unit_(std::move(unit)), total_(total), interval_(interval_s),
      start_(std::chrono::steady_clock::now()), last_(start_), tty_(::isatty(2)) {}

Progress::Progress(const ProgressSpec& spec, double total) : Progress(spec.label, total, spec.unit, 10.0) {
  silent_ = !spec.on();
}

Progress::~Progress() {
  if (!finished_ && printed_ && tty_) std::fputc('\n', stderr);
}

double Progress::elapsed_s() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void Progress::update(double done, const std::string& extra) {
  if (silent_) return;
  done_ = done;
  extra_ = extra;
  auto now = std::chrono::steady_clock::now();
  if (std::chrono::duration<double>(now - last_).count() >= (tty_ ? 0.2 : interval_)) {
    last_ = now;
    print(false);
  }
}

void Progress::finish(const std::string& extra) {
  if (silent_) return;
  if (!extra.empty()) extra_ = extra;
  print(true);
  finished_ = true;
}

void Progress::print(bool final_line) {
  double el = elapsed_s();
  double rate = el > 0 ? done_ / el : 0;
  // Counts (steps, questions) print as grouped integers ("1,234/8,981 questions"), amounts (MB) with one
  // decimal; the unit follows the numbers. Rates keep three significant figures or so, large ones grouped.
  auto whole = [](double v) { return v == static_cast<double>(static_cast<int64_t>(v)); };
  const bool counts = whole(done_) && (total_ <= 0 || whole(total_));
  auto num = [&](double v) {
    return counts ? format_count(static_cast<int64_t>(v)) : fmt::format("{:.1f}", v);
  };
  const std::string r = rate >= 100  ? format_count(static_cast<int64_t>(rate + 0.5))
                        : rate >= 10 ? fmt::format("{:.1f}", rate)
                                     : fmt::format("{:.2f}", rate);
  std::string line = fmt::format("{}: {}{} {} {} {}/s", label_, num(done_),
                                 total_ > 0 ? "/" + num(total_) : "", unit_, r, unit_);
  if (total_ > 0 && !final_line && rate > 0) line += " ETA " + format_duration((total_ - done_) / rate);
  if (final_line) line += " in " + format_duration(el);
  if (!extra_.empty()) line += " " + extra_;
  if (tty_)
    std::fprintf(stderr, "\r\033[K%s%s", line.c_str(), final_line ? "\n" : "");
  else
    std::fprintf(stderr, "%s\n", line.c_str());
  std::fflush(stderr);
  printed_ = true;
}

}  // namespace lm
