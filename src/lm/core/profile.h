// Opt-in wall-clock profile of a training step by op class (`lmcpp bench train --profile`). The kernels are
// parallel inside and called one after another, so a scope's wall time is that op's share of the step.
// Disabled (the default), a scope costs one load and branch; nothing is allocated either way.
#pragma once

#include <array>
#include <chrono>

namespace lm::prof {

enum class Op {
  MatmulFwd,     // block Linear layers, forward
  MatmulBwd,     // block Linear layers, backward (dinp and dweight)
  AttnFwd,       // attention core (QKᵀ, softmax, PV), forward
  AttnBwd,       // attention core, backward
  LayerNorm,     // LayerNorm forward + backward (block and final)
  Gelu,          // GELU forward + backward
  Residual,      // residual adds, encoder (embeddings) forward + backward
  LmHead,        // LM head matmul (fwd + bwd) and softmax cross-entropy
  AdamW,         // optimizer step incl. gradient clipping
  Count
};

const char* op_name(Op op);

struct Totals {
  std::array<double, static_cast<size_t>(Op::Count)> seconds{};
  bool enabled = false;
};
Totals& totals();  // process-wide; the benchmark enables, resets and reads it between steps

class Scope {
 public:
  explicit Scope(Op op) : op_(op), on_(totals().enabled) {
    if (on_) t0_ = std::chrono::steady_clock::now();
  }
  ~Scope() {
    if (on_)
      totals().seconds[static_cast<size_t>(op_)] +=
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
  }
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

 private:
  Op op_;
  bool on_;
  std::chrono::steady_clock::time_point t0_;
};

}  // namespace lm::prof
