// nn::Embeddings over the encoder ops (token + position lookup) and the token-type table add.
#include "lm/nn/embedding.h"

#include "lm/core/profile.h"
#include "lm/ops/encoder.h"

namespace lm::nn {

void embeddings_forward(const Embeddings& p, Tensor out, Tensor ids, Tensor type_ids, int64_t past,
                        Tensor position_ids) {
  prof::Scope ps(prof::Op::Residual);
  ops::encoder_forward(out, ids, p.wte, p.wpe, past, position_ids);
  if (p.wtt.defined()) ops::embedding_add_forward(out, type_ids, p.wtt);
}

void embeddings_backward(const Embeddings& g, Tensor dout, Tensor ids, Tensor type_ids) {
  prof::Scope ps(prof::Op::Residual);
  if (!g.wte.defined()) return;  // frozen embeddings (adapter training): no parameter gradients
  ops::encoder_backward(g.wte, g.wpe, dout, ids);
  if (g.wtt.defined()) ops::embedding_add_backward(g.wtt, dout, type_ids);
}

}  // namespace lm::nn
