// Progress reporting for long work: rate and ETA on one live line (carriage return on a terminal,
// plain lines at most every `interval` seconds otherwise). Written to stderr.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace lm {

// The progress line a pass over data may show: none unless a label is given ("val loss"); unit names the
// items the pass counts ("questions"). Long library loops take one, so a caller decides whether and how they
// report.
struct ProgressSpec {
  std::string label;
  std::string unit;
  bool on() const { return !label.empty(); }
};

class Progress {
 public:
  // total <= 0 means unknown (no ETA). unit is e.g. "MB", "steps".
  Progress(std::string label, double total, std::string unit, double interval_s = 1.0);
  // A pass's line from its spec, at most every 10 s off a terminal; silent (update and finish do nothing)
  // when the spec is off.
  Progress(const ProgressSpec& spec, double total);
  ~Progress();
  // Sets the absolute amount done and an extra free-form suffix; prints if due.
  void update(double done, const std::string& extra = "");
  void finish(const std::string& extra = "");
  double elapsed_s() const;

 private:
  void print(bool final_line);
  std::string label_, unit_, extra_;
  double total_, done_ = 0, interval_;
  std::chrono::steady_clock::time_point start_, last_;
  bool tty_, finished_ = false, printed_ = false, silent_ = false;
};

std::string format_duration(double seconds);
// A count with thousands separators: 1234567 -> "1,234,567".
std::string format_count(int64_t n);

}  // namespace lm
