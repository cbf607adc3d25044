// Tensor-level embedding ops: validate shapes, ids and positions, then dispatch to the device kernel.
#include "lm/ops/encoder.h"

#include <algorithm>

#include "lm/core/buffer.h"

#include "lm/kernels/cpu/encoder.h"
#include "lm/ops/op_util.h"

#ifdef LM_WITH_CUDA
#include "lm/kernels/cuda/encoder.h"
#endif

namespace lm::ops {

using namespace detail;

namespace {

// Every id in [0, V) (ids come from tokenizers and data files: untrusted). Device ids are checked on a host copy.
void check_ids(const Tensor& ids, int64_t V, const char* op, const char* what) {
  std::vector<int32_t> host;
  if (ids.device != Device::CPU) host = host_i32(ids);
  const int32_t* p = ids.device == Device::CPU ? ids.ptr<int32_t>() : host.data();
  for (int64_t i = 0; i < ids.numel(); ++i)
    LM_CHECK(p[i] >= 0 && p[i] < V, "{}: {}[{}] = {} out of range [0, {})", op, what, i, p[i], V);
}

// Positions pos_offset + t (or position_ids) within the wpe table.
void check_positions(const Tensor& position_ids, int64_t pos_offset, int64_t T, int64_t max_t,
                     const char* op) {
  if (position_ids.defined()) {
    check_ids(position_ids, max_t, op, "position_ids");
  } else {
    LM_CHECK(pos_offset >= 0 && pos_offset + T <= max_t,
             "{}: positions [{}, {}) exceed the {} position table", op, pos_offset, pos_offset + T, max_t);
  }
}

// x is out or dout; wte/wpe are the tables or their gradients (named by wte_name/wpe_name in messages).
void check_encoder_args(const char* op, const Tensor& x, const char* x_name, const Tensor& ids,
                        const Tensor& wte, const char* wte_name, const Tensor& wpe, const char* wpe_name,
                        int64_t pos_offset, const Tensor& position_ids) {
  check_defined(x, op, x_name);
  check_defined(ids, op, "ids");
  check_dtype(ids, DType::I32, op, "ids");
  LM_CHECK(ids.ndim() == 2, "{}: ids must be (B,T), got {}", op, ids.shape.str());
  const int64_t B = ids.dim(0), T = ids.dim(1);
  check_defined(wte, op, wte_name);
  LM_CHECK(wte.ndim() == 2, "{}: {} must be (V,C), got {}", op, wte_name, wte.shape.str());
  const int64_t C = wte.dim(1);
  check_shape(x, Shape{B, T, C}, op, x_name);
  (void)data_dtype(op, {{&x, x_name}, {&wte, wte_name}, {&wpe, wpe_name}});
  if (wpe.defined()) {
    LM_CHECK(wpe.ndim() == 2 && wpe.dim(1) == C, "{}: {} must be (maxT,{}), got {}", op, wpe_name, C,
             wpe.shape.str());
  }
  if (position_ids.defined()) {
    check_dtype(position_ids, DType::I32, op, "position_ids");
    check_shape(position_ids, Shape{B, T}, op, "position_ids");
  }
  // Index validation reads the ids (through a host copy when they live on a device).
  check_ids(ids, wte.dim(0), op, "ids");
  if (wpe.defined()) check_positions(position_ids, pos_offset, T, wpe.dim(0), op);
}

}  // namespace

void encoder_forward(Tensor out, Tensor ids, Tensor wte, Tensor wpe, int64_t pos_offset,
                     Tensor position_ids) {
  const char* op = "encoder_forward";
  check_defined(wpe, op, "wpe");
  check_encoder_args(op, out, "out", ids, wte, "wte", wpe, "wpe", pos_offset, position_ids);
  const int32_t* pos = position_ids.defined() ? position_ids.ptr<int32_t>() : nullptr;
  switch (common_device(op, {&out, &ids, &wte, &wpe, &position_ids})) {
    case Device::CPU:
      cpu::encoder_forward(out.f32(), ids.ptr<int32_t>(), wte.f32(), wpe.f32(), pos_offset, pos, ids.dim(0),
                           ids.dim(1), wte.dim(1));
      return;
#ifdef LM_WITH_CUDA
    case Device::CUDA:
      cuda::encoder_forward(out.dtype, out.data, ids.ptr<int32_t>(), wte.data, wpe.data, pos_offset, pos, ids.dim(0),
                            ids.dim(1), wte.dim(1));
      return;
#endif
    default:
      unsupported_device(op, out.device);
  }
}

void encoder_backward(Tensor dwte, Tensor dwpe, Tensor dout, Tensor ids, int64_t pos_offset,
                      Tensor position_ids) {
  const char* op = "encoder_backward";
  check_encoder_args(op, dout, "dout", ids, dwte, "dwte", dwpe, "dwpe", pos_offset, position_ids);
  const int32_t* pos = position_ids.defined() ? position_ids.ptr<int32_t>() : nullptr;
  switch (common_device(op, {&dwte, &dwpe, &dout, &ids, &position_ids})) {
    case Device::CPU:
      cpu::encoder_backward(dwte.f32(), dwpe.defined() ? dwpe.f32() : nullptr, dout.f32(), ids.ptr<int32_t>(),
                            pos_offset, pos, ids.dim(0), ids.dim(1), dwte.dim(1));
      return;
#ifdef LM_WITH_CUDA
    case Device::CUDA:
      cuda::encoder_backward(dout.dtype, dwte.data, dwpe.defined() ? dwpe.data : nullptr, dout.data, ids.ptr<int32_t>(),
                             pos_offset, pos, ids.dim(0), ids.dim(1), dwte.dim(1));
      return;
#endif
    default:
      unsupported_device(op, dout.device);
  }
}

void embedding_add_forward(Tensor out, Tensor ids, Tensor table) {
  const char* op = "embedding_add_forward";
  check_encoder_args(op, out, "out", ids, table, "table", Tensor{}, "", 0, Tensor{});
  switch (common_device(op, {&out, &ids, &table})) {
    case Device::CPU:
      cpu::embedding_add_forward(out.f32(), ids.ptr<int32_t>(), table.f32(), ids.numel(), table.dim(1));
      return;
#ifdef LM_WITH_CUDA
    case Device::CUDA:
      cuda::embedding_add_forward(out.dtype, out.data, ids.ptr<int32_t>(), table.data, ids.numel(), table.dim(1));
      return;
#endif
    default:
      unsupported_device(op, out.device);
  }
}

void embedding_add_backward(Tensor dtable, Tensor dout, Tensor ids) {
  const char* op = "embedding_add_backward";
  check_encoder_args(op, dout, "dout", ids, dtable, "dtable", Tensor{}, "", 0, Tensor{});
  switch (common_device(op, {&dtable, &dout, &ids})) {
    case Device::CPU:
      cpu::embedding_add_backward(dtable.f32(), dout.f32(), ids.ptr<int32_t>(), ids.numel(), dtable.dim(1));
      return;
#ifdef LM_WITH_CUDA
    case Device::CUDA:
      cuda::encoder_backward(dout.dtype, dtable.data, nullptr, dout.data, ids.ptr<int32_t>(), 0, nullptr, 1, ids.numel(),
                             dtable.dim(1));
      return;
#endif
    default:
      unsupported_device(op, dout.device);
  }
}

}  // namespace lm::ops
