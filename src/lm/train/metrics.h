// Training metrics: DIR/metrics.jsonl (one JSON object per log event, appended and flushed) and a loss-curve
// plot DIR/loss.svg (train loss and val loss against step) that any browser opens, rewritten atomically.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

#include "lm/core/json.h"

namespace lm::train {

class MetricsLog {
 public:
  // Opens DIR/metrics.jsonl. keep_through_step >= 0 keeps the lines up to that step (a resumed run continues the
  // log of its checkpoint, not of the steps after it that were lost); < 0 starts an empty log.
  MetricsLog(const std::string& dir, int64_t keep_through_step);
  ~MetricsLog();
  void write(const Json& event);
  // Rewrites DIR/loss.svg from everything logged so far.
  void plot(const std::string& title) const;

 private:
  std::string dir_;
  std::FILE* f_ = nullptr;
  std::vector<std::pair<double, double>> train_, val_;
};

// A simple line plot as SVG: series of (x, y) with names and colours.
struct PlotSeries {
  std::string name, colour;
  std::vector<std::pair<double, double>> points;
};
std::string svg_line_plot(const std::string& title, const std::string& xlabel, const std::string& ylabel,
                          const std::vector<PlotSeries>& series);

}  // namespace lm::train
