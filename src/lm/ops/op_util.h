// Shared argument checks for the ops layer (internal): dtype / device / shape checks with messages naming the
// op and the argument, and the device of a group of tensors (all defined ones must agree).
#pragma once

#include <initializer_list>
#include <utility>
#include <vector>

#include "lm/core/device_memory.h"
#include "lm/core/tensor.h"

namespace lm::ops::detail {

inline void check_defined(const Tensor& t, const char* op, const char* what) {
  LM_CHECK(t.defined(), "{}: {} is undefined", op, what);
}

inline void check_dtype(const Tensor& t, DType dt, const char* op, const char* what) {
  LM_CHECK(t.dtype == dt, "{}: {} must be {}, got {}", op, what, dtype_name(dt), dtype_name(t.dtype));
}

inline void check_f32(const Tensor& t, const char* op, const char* what) {
  check_defined(t, op, what);
  check_dtype(t, DType::F32, op, what);
}

// The storage dtype of an op's floating data tensors: f32 on any device, or bf16 on CUDA (the CUDA kernels store
// bf16 and compute in fp32). Every defined tensor listed must have that same dtype; statistics (LayerNorm
// mean/rstd, losses) stay f32 and are checked separately.
inline DType data_dtype(const char* op, std::initializer_list<std::pair<const Tensor*, const char*>> ts) {
  const Tensor* first = nullptr;
  const char* first_name = "";
  for (const auto& [t, name] : ts) {
    if (!t->defined()) continue;
    if (!first) {
      first = t;
      first_name = name;
      LM_CHECK(t->dtype == DType::F32 || (t->dtype == DType::BF16 && t->device == Device::CUDA),
               "{}: {} must be f32 (or bf16 on cuda), got {} on {}", op, name, dtype_name(t->dtype),
               device_name(t->device));
      continue;
    }
    LM_CHECK(t->dtype == first->dtype, "{}: {} is {} but {} is {}", op, name, dtype_name(t->dtype), first_name,
             dtype_name(first->dtype));
  }
  return first ? first->dtype : DType::F32;
}

inline void check_shape(const Tensor& t, const Shape& s, const char* op, const char* what) {
  LM_CHECK(t.shape == s, "{}: {} must have shape {}, got {}", op, what, s.str(), t.shape.str());
}

inline void check_same_shape(const Tensor& t, const Tensor& ref, const char* op, const char* what,
                             const char* ref_what) {
  LM_CHECK(t.shape == ref.shape, "{}: {} has shape {} but {} has shape {}", op, what, t.shape.str(), ref_what,
           ref.shape.str());
}

// Last dimension (the feature axis) and the number of rows of all leading dims flattened.
inline int64_t last_dim(const Tensor& t) { return t.ndim() == 0 ? 1 : t.dim(-1); }
inline int64_t rows(const Tensor& t) {
  int64_t c = last_dim(t);
  return c == 0 ? 0 : t.numel() / c;
}

// Device shared by the defined tensors; throws if they disagree.
inline Device common_device(const char* op, std::initializer_list<const Tensor*> ts) {
  const Tensor* first = nullptr;
  for (const Tensor* t : ts) {
    if (!t->defined()) continue;
    if (!first) {
      first = t;
      continue;
    }
    LM_CHECK(t->device == first->device, "{}: tensors on different devices ({} and {})", op,
             device_name(first->device), device_name(t->device));
  }
  return first ? first->device : Device::CPU;
}

// Host copy of an i32 tensor on any device: ids and targets read from untrusted files are validated on the host
// before a device kernel indexes with them (a synchronous device-to-host copy for device tensors).
inline std::vector<int32_t> host_i32(const Tensor& t) {
  std::vector<int32_t> h(static_cast<size_t>(t.numel()));
  copy_bytes(h.data(), Device::CPU, t.data, t.device, t.nbytes());
  return h;
}

// A packed inference linear layer's arguments (PackedLinearBf16 / PackedLinearInt8): out (rows of inp, OC),
// inp (.., C), bias (OC) f32 or undefined, CPU tensors, out not aliasing inp.
template <typename Packed>
void check_packed_linear(const char* op, const Tensor& out, const Tensor& inp, const Packed& w, const Tensor& bias) {
  LM_CHECK(w.packed(), "{}: the weight is not packed", op);
  const int64_t OC = w.out_features(), C = w.in_features();
  LM_CHECK(last_dim(inp) == C, "{}: inp {} does not match the packed weight ({}, {})", op, inp.shape.str(), OC, C);
  LM_CHECK(rows(out) == rows(inp) && last_dim(out) == OC, "{}: out must be {} with last dim {}, got {}", op,
           inp.shape.str(), OC, out.shape.str());
  if (bias.defined()) {
    check_dtype(bias, DType::F32, op, "bias");
    check_shape(bias, Shape{OC}, op, "bias");
  }
  LM_CHECK(out.device == Device::CPU && inp.device == Device::CPU, "{}: CPU tensors only", op);
  LM_CHECK(out.data != inp.data, "{}: out must not alias inp", op);
}

[[noreturn]] inline void unsupported_device(const char* op, Device d) {
  LM_THROW(ErrorCode::Unsupported, "{}: no {} kernel in this build", op, device_name(d));
}

}  // namespace lm::ops::detail
