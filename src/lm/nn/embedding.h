// nn::Embeddings — token + position (+ token-type) embeddings summed into (B,T,C): out[b,t] = wte[ids[b,t]] +
// wpe[pos] (+ wtt[type_ids[b,t]]), positions past..past+T-1 unless position_ids (B,T) are given.
// Shapes: ids/type_ids/position_ids (B,T) i32, wte (V,C), wpe (P,C), wtt (TV,C).
#pragma once

#include <cstdint>

#include "lm/core/tensor.h"

namespace lm::nn {

struct Embeddings {
  Tensor wte;  // (V, C)
  Tensor wpe;  // (P, C)
  Tensor wtt;  // (TV, C), or undefined (no token types)
};

// Op::Residual (the embedding lookups count with the residual adds).
void embeddings_forward(const Embeddings& p, Tensor out, Tensor ids, Tensor type_ids = {}, int64_t past = 0,
                        Tensor position_ids = {});
// g.wte, g.wpe (and g.wtt with type_ids) += the rows' gradients; nothing when g.wte is undefined (frozen).
void embeddings_backward(const Embeddings& g, Tensor dout, Tensor ids, Tensor type_ids = {});

}  // namespace lm::nn
