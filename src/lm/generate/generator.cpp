// Batched KV-cache generation and beam search.
#include "lm/generate/generator.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>

#include "lm/core/buffer.h"
#include "lm/core/cpu_load.h"
#include "lm/core/error.h"
#include "lm/core/rng.h"

namespace lm::generate {

namespace {

void check_prompts(const models::CausalLM& model, const std::vector<std::vector<int32_t>>& prompts,
                   const GenerateOptions& opt, const Tokenizer* tok) {
  LM_CHECK(!prompts.empty(), "generate: no prompts");
  LM_CHECK(opt.max_new_tokens >= 0, "max_new_tokens must be >= 0");
  opt.sampling.validate();
  LM_CHECK(opt.num_beams >= 1, "num_beams must be >= 1");
  LM_CHECK(opt.stop_strings.empty() || tok != nullptr, "stop strings need tokenizer files in the model directory");
  const int64_t V = model.model().vocab_size();
  for (size_t b = 0; b < prompts.size(); ++b) {
    LM_CHECK(!prompts[b].empty(), "generate: prompt {} is empty (HF generate needs at least one token)", b);
    for (size_t i = 0; i < prompts[b].size(); ++i)
      LM_CHECK(prompts[b][i] >= 0 && prompts[b][i] < V, "prompt {}: id {} at position {} is out of range for "
               "vocab_size {}", b, prompts[b][i], i, V);
    LM_CHECK(static_cast<int64_t>(prompts[b].size()) + opt.max_new_tokens <= model.model().max_positions(),
             "prompt {} ({} tokens) + max_new_tokens {} exceeds the model's n_positions {}", b, prompts[b].size(),
             opt.max_new_tokens, model.model().max_positions());
  }
}

bool hit_stop_string(const Tokenizer& tok, const std::vector<int32_t>& ids, const std::vector<std::string>& stops) {
  if (stops.empty()) return false;
  std::string text = tok.decode(ids);
  for (const auto& s : stops)
    if (!s.empty() && text.find(s) != std::string::npos) return true;
  return false;
}

GenerateResult sample_or_greedy(const models::CausalLM& model, const std::vector<std::vector<int32_t>>& prompts,
                                const GenerateOptions& opt, const Tokenizer* tok,
                                const std::function<void(int64_t, int32_t)>& on_token) {
  const int64_t B = static_cast<int64_t>(prompts.size()), V = model.model().vocab_size();
  int64_t P = 0;
  for (const auto& p : prompts) P = std::max<int64_t>(P, static_cast<int64_t>(p.size()));
  const int64_t Tmax = P + std::max<int64_t>(opt.max_new_tokens, 1);
  auto cache = model.make_kv_cache(B, Tmax);
  const int32_t pad = opt.eos_id.value_or(0);
  // Left padding: row b's prompt occupies [P - len_b, P).
  OwnedTensor ids(Shape{B, P}, DType::I32), pos(Shape{B, P}, DType::I32), mask(Shape{B, Tmax}, DType::I32);
  bool any_pad = false;
  for (int64_t b = 0; b < B; ++b) {
    const auto& p = prompts[static_cast<size_t>(b)];
    const int64_t off = P - static_cast<int64_t>(p.size());
    any_pad |= off > 0;
    for (int64_t t = 0; t < Tmax; ++t) mask.t.ptr<int32_t>()[b * Tmax + t] = t >= off ? 1 : 0;
    for (int64_t t = 0; t < P; ++t) {
      ids.t.ptr<int32_t>()[b * P + t] = t >= off ? p[static_cast<size_t>(t - off)] : pad;
      // HF: position_ids = cumsum(mask) - 1, masked positions set to 1.
      pos.t.ptr<int32_t>()[b * P + t] = t >= off ? static_cast<int32_t>(t - off) : 1;
    }
  }
  GenerateResult res;
  res.ids.assign(static_cast<size_t>(B), {});
  res.stop_reason.assign(static_cast<size_t>(B), "length");
  if (opt.max_new_tokens == 0) return res;
  std::vector<std::vector<int32_t>> seen(prompts);
  std::vector<bool> done(static_cast<size_t>(B), false);
  std::vector<int32_t> next_pos(static_cast<size_t>(B));
  for (int64_t b = 0; b < B; ++b) next_pos[static_cast<size_t>(b)] = static_cast<int32_t>(prompts[static_cast<size_t>(b)].size());
  model.forward_cached(ids.t, *cache, any_pad ? pos.t : Tensor(), any_pad ? mask.t : Tensor());
  std::vector<float> row(static_cast<size_t>(V));
  OwnedTensor step_ids(Shape{B, 1}, DType::I32), step_pos(Shape{B, 1}, DType::I32);
  // Decode steps give the same bits on any team size: on a busy machine they leave the cores others use.
  AdaptiveThreads adapt;
  for (int64_t s = 0; s < opt.max_new_tokens; ++s) {
    int64_t alive = 0;
    for (int64_t b = 0; b < B; ++b) {
      int32_t id = pad;
      if (!done[static_cast<size_t>(b)]) {
        std::memcpy(row.data(), cache->logits.f32() + b * V, sizeof(float) * static_cast<size_t>(V));
        // Stream (seed, row) with the step as the counter: reproducible for any batch composition order.
        const float u = Rng(opt.sampling.seed, static_cast<uint64_t>(b)).uniform(static_cast<uint64_t>(s));
        id = select_token(row.data(), V, opt.sampling, seen[static_cast<size_t>(b)], u);
        res.ids[static_cast<size_t>(b)].push_back(id);
        seen[static_cast<size_t>(b)].push_back(id);
        if (on_token) on_token(b, id);
        if (opt.eos_id && id == *opt.eos_id) {
          done[static_cast<size_t>(b)] = true;
          res.stop_reason[static_cast<size_t>(b)] = "eos";
        } else if (tok && hit_stop_string(*tok, res.ids[static_cast<size_t>(b)], opt.stop_strings)) {
          done[static_cast<size_t>(b)] = true;
          res.stop_reason[static_cast<size_t>(b)] = "stop_string";
        }
      }
      alive += !done[static_cast<size_t>(b)];
      step_ids.t.ptr<int32_t>()[b] = id;
      step_pos.t.ptr<int32_t>()[b] = next_pos[static_cast<size_t>(b)]++;
    }
    if (alive == 0 || s + 1 == opt.max_new_tokens) break;
    adapt.step();
    model.forward_cached(step_ids.t, *cache, step_pos.t, any_pad ? mask.t : Tensor());
  }
  return res;
}

// Beam search for one prompt, as HF's BeamSearchScorer: at each step the 2*num_beams best continuations over all
// beams; a continuation ending in eos becomes a finished hypothesis scored sum_logprobs / len^length_penalty
// (len = generated length); others fill the beams. Done when num_beams hypotheses are finished and either
// early_stopping or no live beam can beat the worst of them.
std::vector<int32_t> beam_search_one(const models::CausalLM& model, const std::vector<int32_t>& prompt,
                                     const GenerateOptions& opt, std::string* reason) {
  const int64_t nb = opt.num_beams, V = model.model().vocab_size(), P = static_cast<int64_t>(prompt.size());
  const int64_t Tmax = P + std::max<int64_t>(opt.max_new_tokens, 1);
  auto cache = model.make_kv_cache(nb, Tmax);
  OwnedTensor ids(Shape{nb, P}, DType::I32);
  for (int64_t b = 0; b < nb; ++b)
    for (int64_t t = 0; t < P; ++t) ids.t.ptr<int32_t>()[b * P + t] = prompt[static_cast<size_t>(t)];
  model.forward_cached(ids.t, *cache);
  struct Hyp {
    std::vector<int32_t> ids;
    double score;
  };
  std::vector<Hyp> finished;
  std::vector<std::vector<int32_t>> beams(static_cast<size_t>(nb));
  // Only beam 0 is live at the start (the others would duplicate it), as HF sets their scores to -1e9.
  std::vector<double> beam_scores(static_cast<size_t>(nb), -1e9);
  beam_scores[0] = 0;
  auto hyp_score = [&](double sum, int64_t len) { return sum / std::pow(static_cast<double>(len), opt.length_penalty); };
  auto worst_finished = [&] {
    double w = std::numeric_limits<double>::infinity();
    for (auto& h : finished) w = std::min(w, h.score);
    return w;
  };
  auto add_finished = [&](std::vector<int32_t> h, double sum) {
    double sc = hyp_score(sum, static_cast<int64_t>(h.size()));
    if (static_cast<int64_t>(finished.size()) < nb || sc > worst_finished()) {
      finished.push_back({std::move(h), sc});
      if (static_cast<int64_t>(finished.size()) > nb) {
        auto it = std::min_element(finished.begin(), finished.end(), [](auto& a, auto& b) { return a.score < b.score; });
        finished.erase(it);
      }
    }
  };
  OwnedTensor step_ids(Shape{nb, 1}, DType::I32);
  std::vector<float> lp(static_cast<size_t>(nb * V));
  AdaptiveThreads adapt;  // as in generate(): decode steps are team-size independent
  *reason = "length";
  for (int64_t s = 0; s < opt.max_new_tokens; ++s) {
    // log_softmax per beam + the beam's running score.
    std::vector<std::pair<double, int64_t>> cand;  // (score, beam*V + token)
    cand.reserve(static_cast<size_t>(nb * V));
    for (int64_t b = 0; b < nb; ++b) {
      const float* l = cache->logits.f32() + b * V;
      float mx = *std::max_element(l, l + V);
      double sum = 0;
      for (int64_t v = 0; v < V; ++v) sum += std::exp(static_cast<double>(l[v]) - mx);
      const double lse = mx + std::log(sum);
      for (int64_t v = 0; v < V; ++v) cand.push_back({beam_scores[static_cast<size_t>(b)] + l[v] - lse, b * V + v});
    }
    const int64_t k = std::min<int64_t>(2 * nb, static_cast<int64_t>(cand.size()));
    std::partial_sort(cand.begin(), cand.begin() + k, cand.end(),
                      [](auto& a, auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); });
    std::vector<std::vector<int32_t>> nbeams;
    std::vector<double> nscores;
    std::vector<int64_t> src;
    for (int64_t i = 0; i < k && static_cast<int64_t>(nbeams.size()) < nb; ++i) {
      const int64_t b = cand[static_cast<size_t>(i)].second / V;
      const int32_t tokid = static_cast<int32_t>(cand[static_cast<size_t>(i)].second % V);
      std::vector<int32_t> h = beams[static_cast<size_t>(b)];
      h.push_back(tokid);
      if (opt.eos_id && tokid == *opt.eos_id) {
        // HF: an eos candidate ranked beyond num_beams is not added.
        if (i < nb) add_finished(std::move(h), cand[static_cast<size_t>(i)].first);
        continue;
      }
      nbeams.push_back(std::move(h));
      nscores.push_back(cand[static_cast<size_t>(i)].first);
      src.push_back(b);
    }
    // Done?
    if (static_cast<int64_t>(finished.size()) >= nb) {
      if (opt.early_stopping) {
        *reason = "eos";
        beams.clear();
        break;
      }
      // HF is_done: the best of this step's candidates cannot beat the worst finished hypothesis.
      if (hyp_score(cand[0].first, s + 1) <= worst_finished()) {
        *reason = "eos";
        beams.clear();
        break;
      }
    }
    // Reorder the cache rows to the surviving beams' sources (on the cache's device).
    model.reorder_cache(*cache, src);
    beams = std::move(nbeams);
    beam_scores = nscores;
    if (s + 1 == opt.max_new_tokens) break;
    for (int64_t b = 0; b < nb; ++b) step_ids.t.ptr<int32_t>()[b] = beams[static_cast<size_t>(b)].back();
    adapt.step();
    model.forward_cached(step_ids.t, *cache);
  }
  // Live beams are candidates too at the end (HF finalize).
  for (size_t b = 0; b < beams.size(); ++b) add_finished(beams[b], beam_scores[b]);
  auto best = std::max_element(finished.begin(), finished.end(), [](auto& a, auto& b) { return a.score < b.score; });
  if (best != finished.end() && opt.eos_id && !best->ids.empty() && best->ids.back() == *opt.eos_id) *reason = "eos";
  return best == finished.end() ? std::vector<int32_t>{} : best->ids;
}

}  // namespace

GenerateResult generate(const models::CausalLM& model, const std::vector<std::vector<int32_t>>& prompts,
                        const GenerateOptions& opt, const Tokenizer* tokenizer,
                        const std::function<void(int64_t, int32_t)>& on_token) {
  check_prompts(model, prompts, opt, tokenizer);
  if (opt.num_beams == 1) return sample_or_greedy(model, prompts, opt, tokenizer, on_token);
  LM_CHECK(opt.stop_strings.empty(), "stop strings are not supported with beam search");
  GenerateResult res;
  for (const auto& p : prompts) {
    std::string reason;
    res.ids.push_back(opt.max_new_tokens ? beam_search_one(model, p, opt, &reason) : std::vector<int32_t>{});
    res.stop_reason.push_back(opt.max_new_tokens ? reason : "length");
  }
  return res;
}

}  // namespace lm::generate
