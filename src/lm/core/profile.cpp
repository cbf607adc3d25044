// Op-class names and the process-wide totals of the opt-in step profile.
#include "lm/core/profile.h"

namespace lm::prof {

const char* op_name(Op op) {
  switch (op) {
    case Op::MatmulFwd: return "matmul fwd";
    case Op::MatmulBwd: return "matmul bwd";
    case Op::AttnFwd: return "attention fwd";
    case Op::AttnBwd: return "attention bwd";
    case Op::LayerNorm: return "layernorm";
    case Op::Gelu: return "gelu";
    case Op::Residual: return "residual+embed";
    case Op::LmHead: return "lm head+xent";
    case Op::AdamW: return "adamw";
    case Op::Count: break;
  }
  return "?";
}

Totals& totals() {
  static Totals t;
  return t;
}

}  // namespace lm::prof
