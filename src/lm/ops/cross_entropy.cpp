// Tensor-level cross-entropy: logits (N,V) (leading dims flattened), targets (N) i32 validated against V.
#include "lm/ops/cross_entropy.h"

#include "lm/kernels/cpu/cross_entropy.h"
#include "lm/ops/op_util.h"

#ifdef LM_WITH_CUDA
#include "lm/kernels/cuda/cross_entropy.h"
#endif

namespace lm::ops {

using namespace detail;

namespace {
void check_ce_args(const char* op, const Tensor& logits, const Tensor& targets, int ignore_index) {
  check_defined(logits, op, "logits");
  (void)data_dtype(op, {{&logits, "logits"}});
  LM_CHECK(logits.ndim() >= 1 && last_dim(logits) > 0, "{}: logits must have a non-empty last dim, got {}",
           op, logits.shape.str());
  const int64_t N = rows(logits), V = last_dim(logits);
  check_defined(targets, op, "targets");
  check_dtype(targets, DType::I32, op, "targets");
  LM_CHECK(targets.numel() == N, "{}: targets must have {} elements (rows of logits {}), got {}", op, N,
           logits.shape.str(), targets.shape.str());
  // Device targets are validated through a host copy (they index the logits).
  std::vector<int32_t> host;
  if (targets.device != Device::CPU) host = host_i32(targets);
  const int32_t* t = targets.device == Device::CPU ? targets.ptr<int32_t>() : host.data();
  for (int64_t n = 0; n < N; ++n)
    LM_CHECK(t[n] == ignore_index || (t[n] >= 0 && t[n] < V), "{}: target[{}] = {} out of range [0, {})", op, n,
             t[n], V);
}

#ifdef LM_WITH_CUDA
int64_t count_targets(const Tensor& targets, int ignore_index) {
  int64_t count = 0;
  for (int32_t t : host_i32(targets)) count += t != ignore_index;
  return count;
}
#endif
}  // namespace

namespace {
void check_row_stats(const char* op, const Tensor& row_stats, const Tensor& logits) {
  if (!row_stats.defined()) return;
  check_f32(row_stats, op, "row_stats");
  check_shape(row_stats, Shape{rows(logits), 2}, op, "row_stats");
}
}  // namespace

int64_t cross_entropy_forward(Tensor losses, Tensor logits, Tensor targets, int ignore_index, Tensor row_stats) {
  const char* op = "cross_entropy_forward";
  check_ce_args(op, logits, targets, ignore_index);
  check_row_stats(op, row_stats, logits);
  check_f32(losses, op, "losses");
  LM_CHECK(losses.numel() == rows(logits), "{}: losses must have {} elements, got {}", op, rows(logits),
           losses.shape.str());
  switch (common_device(op, {&losses, &logits, &targets})) {
    case Device::CPU:
      if (row_stats.defined()) LM_CHECK(row_stats.device == Device::CPU, "{}: row_stats must be on the CPU", op);
      return cpu::cross_entropy_forward(losses.f32(), logits.f32(), targets.ptr<int32_t>(), ignore_index,
                                        rows(logits), last_dim(logits),
                                        row_stats.defined() ? row_stats.f32() : nullptr);
#ifdef LM_WITH_CUDA
    case Device::CUDA:
      cuda::cross_entropy_forward(logits.dtype, losses.f32(), logits.data, targets.ptr<int32_t>(), ignore_index,
                                  rows(logits), last_dim(logits));
      return count_targets(targets, ignore_index);
#endif
    default:
      unsupported_device(op, logits.device);
  }
}

void cross_entropy_backward(Tensor dlogits, Tensor logits, Tensor targets, float dloss, int ignore_index,
                            Tensor row_stats) {
  const char* op = "cross_entropy_backward";
  check_ce_args(op, logits, targets, ignore_index);
  check_row_stats(op, row_stats, logits);
  check_defined(dlogits, op, "dlogits");
  check_same_shape(dlogits, logits, op, "dlogits", "logits");
  (void)data_dtype(op, {{&logits, "logits"}, {&dlogits, "dlogits"}});
  switch (common_device(op, {&dlogits, &logits, &targets})) {
    case Device::CPU:
      if (row_stats.defined()) LM_CHECK(row_stats.device == Device::CPU, "{}: row_stats must be on the CPU", op);
      cpu::cross_entropy_backward(dlogits.f32(), logits.f32(), targets.ptr<int32_t>(), dloss, ignore_index,
                                  rows(logits), last_dim(logits), row_stats.defined() ? row_stats.f32() : nullptr);
      return;
#ifdef LM_WITH_CUDA
    case Device::CUDA:
      cuda::cross_entropy_backward(logits.dtype, dlogits.data, logits.data, targets.ptr<int32_t>(), dloss, ignore_index,
                                   rows(logits), last_dim(logits));
      return;
#endif
    default:
      unsupported_device(op, logits.device);
  }
}

}  // namespace lm::ops
