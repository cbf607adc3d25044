// Token + position embedding: out[b,t,:] = wte[ids[b,t],:] + wpe[pos_offset + t,:].
// Shapes: out (B,T,C) f32; ids (B,T) i32; wte (V,C); wpe (maxT,C). Ids are validated (0 <= id < V).
// position_ids, when given (B,T) i32, replace pos_offset + t (left-padded batches).
#pragma once

#include <cstdint>
#include <vector>

#include "lm/core/tensor.h"

namespace lm::ops {

void encoder_forward(Tensor out, Tensor ids, Tensor wte, Tensor wpe, int64_t pos_offset = 0,
                     Tensor position_ids = {});
// Accumulates into dwte and dwpe (dwpe may be undefined to skip). Deterministic (no atomics: rows are
// reduced in a fixed order).
void encoder_backward(Tensor dwte, Tensor dwpe, Tensor dout, Tensor ids, int64_t pos_offset = 0,
                      Tensor position_ids = {});

// Generic embedding-add for extra tables (BERT token types): out[b,t,:] += table[ids[b,t],:].
void embedding_add_forward(Tensor out, Tensor ids, Tensor table);
void embedding_add_backward(Tensor dtable, Tensor dout, Tensor ids);


}  // namespace lm::ops
