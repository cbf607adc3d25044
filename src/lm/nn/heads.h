// nn heads over an encoder's hidden states h (B,T,C): the pooler tanh(dense(h[:,0])), the masked-LM prediction
// head (transform dense -> GELU -> LayerNorm, then a decoder whose weight is the tied word embeddings), the
// sequence classifier (dropout -> dense) and the span-QA head (dense to 2 channels, split into start and end
// logits). Shapes: C hidden, V vocab, NL labels; N = the rows the MLM head runs on (B*T, or the gathered masked
// positions). Each backward accumulates (+=) into its input gradient and into the weight gradients.
#pragma once

#include <cstdint>

#include "lm/core/tensor.h"
#include "lm/nn/layernorm.h"
#include "lm/nn/linear.h"
#include "lm/ops/gelu.h"

namespace lm::nn {

// Inverted dropout with probability p, masks from the Philox stream (seed, stream); p == 0 is the identity.
struct DropoutSpec {
  float p = 0.0f;
  uint64_t seed = 0, stream = 0;
  bool active() const { return p > 0.0f; }
};

// ---- Pooler: out = tanh(dense(h[:, 0])), the hidden state of each sequence's first token.
struct Pooler {
  Linear dense;  // (C, C), (C)
};

struct PoolerActs {
  Tensor first;  // (B,C) h[:, 0]
  Tensor pre;    // (B,C) dense output, before tanh
  PoolerActs rows(int64_t B) const { return {first.slice0(0, B), pre.slice0(0, B)}; }
};

struct PoolerScratch {
  Tensor dpre, dfirst;  // (B,C) each
  PoolerScratch rows(int64_t B) const { return {dpre.slice0(0, B), dfirst.slice0(0, B)}; }
};

// out (B,C); h (B,T,C).
void pooler_forward(const Pooler& p, Tensor out, const PoolerActs& a, Tensor h);
// dh[:, 0] += d h[:, 0]; out is the forward's output (tanh' is read from it).
void pooler_backward(const Pooler& p, const Pooler& g, Tensor dh, Tensor dout, Tensor out, const PoolerActs& a,
                     const PoolerScratch& s);

// ---- Masked-LM prediction head: logits = decoder(LayerNorm(GELU(transform(x)))).
struct MlmHead {
  Linear transform;  // (C, C), (C)
  LayerNorm ln;      // (C), (C)
  Linear decoder;    // (V, C) = the word embeddings (tied; its gradient adds to theirs), (V) the output bias
};

struct MlmActs {
  Tensor t, t_act, t_ln;  // (N,C) transform output, GELU output, LayerNorm output
  LayerNormStats ln;      // (N) each
  MlmActs rows(int64_t n) const { return {t.slice0(0, n), t_act.slice0(0, n), t_ln.slice0(0, n), ln.rows(n)}; }
};

struct MlmScratch {
  Tensor dln, dact, dt;  // (N,C) each: d of the LayerNorm, GELU and transform outputs
  MlmScratch rows(int64_t n) const { return {dln.slice0(0, n), dact.slice0(0, n), dt.slice0(0, n)}; }
};

// logits (N,V); x (N,C).
void mlm_head_forward(const MlmHead& p, Tensor logits, const MlmActs& a, Tensor x, ops::GeluKind act, float eps);
// dx += d x, from dlogits (N,V).
void mlm_head_backward(const MlmHead& p, const MlmHead& g, Tensor dx, Tensor dlogits, const MlmActs& a, Tensor x,
                       ops::GeluKind act, const MlmScratch& s);

// ---- Classifier: logits = dense(dropout(x)) (the dropout only when drop is active).
struct ClassifierActs {
  Tensor dropped;  // (B,C) the dropout output (read only when the dropout is active)
  ClassifierActs rows(int64_t B) const { return {dropped.defined() ? dropped.slice0(0, B) : Tensor()}; }
};

// logits (B,NL); x (B,C); p: dense (NL, C), (NL).
void classifier_forward(const Linear& p, Tensor logits, const ClassifierActs& a, Tensor x, const DropoutSpec& drop);
// dx += d x; ddropped (B,C) is scratch for the gradient at the dropout output.
void classifier_backward(const Linear& p, const Linear& g, Tensor dx, Tensor dlogits, const ClassifierActs& a,
                         Tensor x, const DropoutSpec& drop, Tensor ddropped);

// ---- Span QA: (start, end) = dense(h).split(1, dim=-1), HF's qa_outputs: channel 0 starts, channel 1 ends.
// The de-interleaving is a row gather over the (B*T*2, 1) view, so it is exact.
// start/end (B,T); span (B,T,2) the dense output; h (B,T,C); p: (2, C), (2).
void span_head_forward(const Linear& p, Tensor start, Tensor end, Tensor span, Tensor h);
// dh += d h from dstart / dend (B,T); dspan (B,T,2) is scratch.
void span_head_backward(const Linear& p, const Linear& g, Tensor dh, Tensor dstart, Tensor dend, Tensor h,
                        Tensor dspan);

}  // namespace lm::nn
