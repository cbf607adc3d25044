// Reference (scalar, templated over float|double) token + position embedding and a generic embedding-add.
// Shapes: out/dout (B,T,C); ids, pos (B,T) i32 (pos may be null: position = pos_offset + t); wte (V,C);
// wpe (maxT,C). Indices are assumed validated by the ops layer.
#pragma once

#include <cstdint>

namespace lm::ref {

inline int64_t encoder_position(const int32_t* pos, int64_t pos_offset, int64_t bt, int64_t t) {
  return pos ? static_cast<int64_t>(pos[bt]) : pos_offset + t;
}

template <typename F>
void encoder_forward(F* out, const int32_t* ids, const F* wte, const F* wpe, int64_t pos_offset,
                     const int32_t* pos, int64_t B, int64_t T, int64_t C) {
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t) {
      int64_t bt = b * T + t;
      const F* we = wte + static_cast<int64_t>(ids[bt]) * C;
      const F* pe = wpe + encoder_position(pos, pos_offset, bt, t) * C;
      for (int64_t c = 0; c < C; ++c) out[bt * C + c] = we[c] + pe[c];
    }
}

// dwte[ids] += dout, dwpe[pos] += dout (dwpe may be null).
template <typename F>
void encoder_backward(F* dwte, F* dwpe, const F* dout, const int32_t* ids, int64_t pos_offset,
                      const int32_t* pos, int64_t B, int64_t T, int64_t C) {
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t) {
      int64_t bt = b * T + t;
      F* dwe = dwte + static_cast<int64_t>(ids[bt]) * C;
      F* dpe = dwpe ? dwpe + encoder_position(pos, pos_offset, bt, t) * C : nullptr;
      for (int64_t c = 0; c < C; ++c) {
        dwe[c] += dout[bt * C + c];
        if (dpe) dpe[c] += dout[bt * C + c];
      }
    }
}

// out[n,:] += table[ids[n],:] over N = B*T rows.
template <typename F>
void embedding_add_forward(F* out, const int32_t* ids, const F* table, int64_t N, int64_t C) {
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c) out[n * C + c] += table[static_cast<int64_t>(ids[n]) * C + c];
}

template <typename F>
void embedding_add_backward(F* dtable, const F* dout, const int32_t* ids, int64_t N, int64_t C) {
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c) dtable[static_cast<int64_t>(ids[n]) * C + c] += dout[n * C + c];
}

}  // namespace lm::ref
