// Finite-difference gradient checking in double for the reference kernels. The scalar checked is
// L = Σ r_i y_i for a fixed random projection r of an op's output y, so the analytic gradient is the op's
// backward run with dout = r, compared against central differences of L, element by element.
#pragma once

#include <cmath>
#include <cstdint>
#include <functional>
#include <vector>

#include "lm/core/rng.h"

namespace lm::test {

inline std::vector<double> random_doubles(int64_t n, uint64_t seed, double scale = 1.0) {
  Rng rng(seed, 77);
  std::vector<double> v(static_cast<size_t>(n));
  for (auto& x : v) x = scale * rng.next_normal();
  return v;
}

inline double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// Norm-wise relative error ||analytic - numeric|| / ||numeric|| of dL/dx, where loss() recomputes L from the
// current contents of x (which this function perturbs and restores).
inline double fd_rel_error(std::vector<double>& x, const std::vector<double>& analytic,
                           const std::function<double()>& loss, double h = 1e-5) {
  double num = 0, den = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double x0 = x[i];
    x[i] = x0 + h;
    const double lp = loss();
    x[i] = x0 - h;
    const double lm = loss();
    x[i] = x0;
    const double g = (lp - lm) / (2 * h);
    num += (analytic[i] - g) * (analytic[i] - g);
    den += g * g;
  }
  return std::sqrt(num) / std::max(std::sqrt(den), 1e-300);
}

constexpr double kFdTol = 1e-6;

}  // namespace lm::test
