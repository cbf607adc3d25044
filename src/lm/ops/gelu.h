// GELU, elementwise on any shape. Tanh: 0.5x(1+tanh(sqrt(2/pi)(x+0.044715x^3))) (HF "gelu_new",
// "gelu_pytorch_tanh"); Erf: 0.5x(1+erf(x/sqrt2)) (HF "gelu", BERT).
#pragma once

#include <string_view>

#include "lm/core/tensor.h"

namespace lm::ops {

enum class GeluKind { Tanh, Erf };

// Maps HF activation_function/hidden_act names; throws Unsupported for others.
GeluKind gelu_kind_from_name(std::string_view name);

void gelu_forward(Tensor out, Tensor inp, GeluKind kind);
// Accumulates dinp += dout * gelu'(inp); with overwrite, dinp = dout * gelu'(inp) (no zeroing needed first).
void gelu_backward(Tensor dinp, Tensor dout, Tensor inp, GeluKind kind, bool overwrite = false);

}  // namespace lm::ops
