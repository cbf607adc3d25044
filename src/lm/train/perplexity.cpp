// The sliding-window perplexity recipe and the tokens it scores (see perplexity.h).
#include "lm/train/perplexity.h"

#include <algorithm>

#include "lm/core/buffer.h"
#include "lm/core/error.h"
#include "lm/core/file_util.h"
#include "lm/core/progress.h"
#include "lm/data/gpt_loader.h"
#include "lm/data/shard.h"
#include "lm/tokenize/tokenizer.h"

namespace lm::train {

PerplexityResult sliding_window_perplexity(models::Model& model, const std::vector<int32_t>& ids, int64_t max_len,
                                           int64_t stride, bool progress) {
  LM_CHECK_AS(ErrorCode::Unsupported, model.causal_lm() != nullptr,
              "perplexity needs a causal language model; this model is {}", model.architecture());
  LM_CHECK(max_len >= 2 && max_len <= model.max_positions(), "max_length {} must be in [2, {}]", max_len,
           model.max_positions());
  LM_CHECK(stride >= 1 && stride <= max_len, "stride {} must be in [1, max_length {}]", stride, max_len);
  PerplexityResult r;
  const int64_t n = static_cast<int64_t>(ids.size());
  int64_t prev_end = 0;
  Progress prog("evaluate", static_cast<double>(n), "tokens", progress ? 10.0 : 1e30);
  for (int64_t begin = 0; begin < n; begin += stride) {
    const int64_t end = std::min(begin + max_len, n), L = end - begin, trg_len = end - prev_end;
    OwnedTensor x(Shape{1, L}, DType::I32), y(Shape{1, L}, DType::I32);
    for (int64_t t = 0; t < L; ++t) {
      x.t.ptr<int32_t>()[t] = ids[static_cast<size_t>(begin + t)];
      // targets[t] is label t+1; labels before L - trg_len are ignored.
      y.t.ptr<int32_t>()[t] = (t + 1 < L && t + 1 >= L - trg_len) ? ids[static_cast<size_t>(begin + t + 1)] : -100;
    }
    models::Batch b;
    b.input_ids = x.t;
    b.labels = y.t;
    const float loss = model.forward(b);
    if (model.last_num_targets() > 0) {
      r.nll += static_cast<double>(loss) * static_cast<double>(model.last_num_targets());
      r.tokens += model.last_num_targets();
    }
    prev_end = end;
    if (progress) prog.update(static_cast<double>(end));
    if (end == n) break;
  }
  if (progress) prog.finish();
  return r;
}

std::vector<int32_t> read_eval_tokens(const std::string& data, const std::string& split, const Tokenizer* tok,
                                      int64_t max_tokens, std::string& source) {
  std::vector<int32_t> ids;
  if (is_directory(data)) {
    for (const auto& path : list_shards(data, split)) {
      Shard s(path);
      const uint64_t take = max_tokens > 0 ? std::min<uint64_t>(s.size(), static_cast<uint64_t>(max_tokens) - ids.size())
                                           : s.size();
      const size_t off = ids.size();
      ids.resize(off + take);
      s.read(0, take, ids.data() + off);
      if (max_tokens > 0 && static_cast<int64_t>(ids.size()) >= max_tokens) break;
    }
    source = data + " (" + split + " shards)";
  } else {
    LM_CHECK_AS(ErrorCode::NotFound, file_exists(data), "data {} does not exist", data);
    LM_CHECK_AS(ErrorCode::NotFound, tok != nullptr, "scoring a text file needs the model's tokenizer files");
    ids = tok->encode(read_file(data), false);
    if (max_tokens > 0 && static_cast<int64_t>(ids.size()) > max_tokens) ids.resize(static_cast<size_t>(max_tokens));
    source = data;
  }
  return ids;
}

}  // namespace lm::train
