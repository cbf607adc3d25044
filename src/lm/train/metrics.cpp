// metrics.jsonl writer and SVG loss plot.
#include "lm/train/metrics.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "lm/core/error.h"
#include "lm/core/file_util.h"

namespace lm::train {

MetricsLog::MetricsLog(const std::string& dir, int64_t keep_through_step) : dir_(dir) {
  std::string path = path_join(dir, "metrics.jsonl");
  std::string kept;
  if (keep_through_step >= 0 && file_exists(path)) {
    std::istringstream in(read_file(path));
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      Json j;
      try {
        j = Json::parse(line);
      } catch (...) {
        continue;  // a line cut by a crash
      }
      if (keep_through_step >= 0 && j.contains("step") && j["step"].is_number() &&
          j["step"].get<int64_t>() > keep_through_step)
        continue;
      kept += line + "\n";
      if (j.contains("step") && j.contains("loss") && j["loss"].is_number())
        train_.push_back({j["step"].get<double>(), j["loss"].get<double>()});
      if (j.contains("step") && j.contains("val_loss") && j["val_loss"].is_number())
        val_.push_back({j["step"].get<double>(), j["val_loss"].get<double>()});
    }
  }
  write_file_atomic(path, kept);
  f_ = std::fopen(path.c_str(), "ab");
  LM_CHECK(f_ != nullptr, "cannot open {} for appending", path);
}

MetricsLog::~MetricsLog() {
  if (f_) std::fclose(f_);
}

void MetricsLog::write(const Json& e) {
  std::string line = e.dump() + "\n";
  std::fwrite(line.data(), 1, line.size(), f_);
  std::fflush(f_);
  if (e.contains("step") && e.contains("loss") && e["loss"].is_number())
    train_.push_back({e["step"].get<double>(), e["loss"].get<double>()});
  if (e.contains("step") && e.contains("val_loss") && e["val_loss"].is_number())
    val_.push_back({e["step"].get<double>(), e["val_loss"].get<double>()});
}

void MetricsLog::plot(const std::string& title) const {
  std::vector<PlotSeries> s;
  s.push_back({"train loss", "#1f77b4", train_});
  if (!val_.empty()) s.push_back({"val loss", "#d62728", val_});
  write_file_atomic(path_join(dir_, "loss.svg"), svg_line_plot(title, "step", "loss", s));
}

namespace {
std::string xml_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '&': o += "&amp;"; break;
      case '"': o += "&quot;"; break;
      default: o.push_back(c);
    }
  }
  return o;
}

// "Nice" tick step (1, 2 or 5 times a power of ten) giving about n ticks over [lo, hi].
double tick_step(double lo, double hi, int n) {
  double raw = (hi - lo) / std::max(1, n);
  if (!(raw > 0)) return 1;
  double p = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (raw <= m * p) return m * p;
  return 10 * p;
}
}  // namespace

std::string svg_line_plot(const std::string& title, const std::string& xlabel, const std::string& ylabel,
                          const std::vector<PlotSeries>& series) {
  const double W = 800, H = 480, L = 70, R = 20, T = 40, B = 50;
  double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
  for (const auto& s : series)
    for (auto [x, y] : s.points) {
      if (!std::isfinite(x) || !std::isfinite(y)) continue;
      x0 = std::min(x0, x);
      x1 = std::max(x1, x);
      y0 = std::min(y0, y);
      y1 = std::max(y1, y);
    }
  if (!(x0 <= x1)) x0 = 0, x1 = 1, y0 = 0, y1 = 1;
  if (x1 == x0) x1 = x0 + 1;
  if (y1 == y0) y1 = y0 + 1;
  const double pad = 0.05 * (y1 - y0);
  y0 -= pad;
  y1 += pad;
  auto px = [&](double x) { return L + (x - x0) / (x1 - x0) * (W - L - R); };
  auto py = [&](double y) { return H - B - (y - y0) / (y1 - y0) * (H - T - B); };
  std::string o = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" viewBox=\"0 0 {} {}\" "
      "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n",
      W, H, W, H);
  o += fmt::format("<text x=\"{}\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">{}</text>\n", W / 2,
                   xml_escape(title));
  double ys = tick_step(y0, y1, 6);
  for (double y = std::ceil(y0 / ys) * ys; y <= y1; y += ys) {
    o += fmt::format("<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#ddd\"/>\n", L, py(y),
                     W - R, py(y));
    o += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"end\">{:g}</text>\n", L - 6, py(y) + 4, y);
  }
  double xs = tick_step(x0, x1, 8);
  for (double x = std::ceil(x0 / xs) * xs; x <= x1; x += xs) {
    o += fmt::format("<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#eee\"/>\n", px(x), T,
                     px(x), H - B);
    o += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{:g}</text>\n", px(x), H - B + 18, x);
  }
  o += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#333\"/>\n", L, T,
                   W - L - R, H - T - B);
  o += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", L + (W - L - R) / 2, H - 12,
                   xml_escape(xlabel));
  o += fmt::format("<text x=\"16\" y=\"{}\" text-anchor=\"middle\" transform=\"rotate(-90 16 {})\">{}</text>\n",
                   T + (H - T - B) / 2, T + (H - T - B) / 2, xml_escape(ylabel));
  int k = 0;
  for (const auto& s : series) {
    std::string pts;
    for (auto [x, y] : s.points)
      if (std::isfinite(x) && std::isfinite(y)) pts += fmt::format("{:.1f},{:.1f} ", px(x), py(y));
    o += fmt::format("<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\" points=\"{}\"/>\n", s.colour, pts);
    o += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"14\" height=\"3\" fill=\"{}\"/>", W - R - 130, T + 12 + 16 * k,
                     s.colour);
    o += fmt::format("<text x=\"{}\" y=\"{}\">{}</text>\n", W - R - 110, T + 17 + 16 * k, xml_escape(s.name));
    ++k;
  }
  o += "</svg>\n";
  return o;
}

}  // namespace lm::train
