// Progress reporting for long work: rate and ETA on one live line (carriage return on a terminal,
// plain lines at most every `interval` seconds otherwise). Written to stderr.
#pragma once

#include <chrono>
#include <string>

namespace lm {

class Progress {
 public:
  // total <= 0 means unknown (no ETA). unit is e.g. "MB", "steps".
  Progress(std::string label, double total, std::string unit, double interval_s = 1.0);
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
  bool tty_, finished_ = false, printed_ = false;
};

std::string format_duration(double seconds);

}  // namespace lm
