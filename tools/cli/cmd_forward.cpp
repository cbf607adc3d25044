// `lmcpp forward` (one sequence, batch 1: outputs as HF ModelOutput fields, float32) and `lmcpp score`
// (mean next-token cross-entropy and perplexity).
#include <cmath>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "command.h"
#include "lm/interop/open.h"
#include "lm/core/buffer.h"
#include "lm/core/error.h"
#include "lm/core/file_util.h"
#include "lm/core/json.h"
#include "lm/core/threads.h"
#include "lm/io/safetensors.h"
#include "lm/models/model.h"
#include "lm/tokenize/tokenizer.h"

namespace lm::cli {
namespace {

OwnedTensor ids_tensor(const std::vector<int64_t>& ids, int64_t vocab, const std::string& flag,
                       int64_t max_positions) {
  LM_CHECK(!ids.empty(), "{} is empty", flag);
  LM_CHECK(static_cast<int64_t>(ids.size()) <= max_positions,
           "{} has {} ids, more than the model's n_positions {}", flag, ids.size(), max_positions);
  OwnedTensor t(Shape{1, static_cast<int64_t>(ids.size())}, DType::I32);
  for (size_t i = 0; i < ids.size(); ++i) {
    LM_CHECK(ids[i] < vocab, "{}: id {} at position {} is out of range for vocab_size {}", flag, ids[i], i, vocab);
    t.t.ptr<int32_t>()[i] = static_cast<int32_t>(ids[i]);
  }
  return t;
}

// Compact JSON as nlohmann's dump() writes it, without building a tree of V·T numbers: floats in their shortest
// round-trip form (a float, not its double widening), non-finite values as null.
void append_nested(std::string& out, const float* x, const Shape& s, int dim, int64_t& off) {
  out.push_back('[');
  for (int64_t i = 0; i < s[dim]; ++i) {
    if (i) out.push_back(',');
    if (dim == s.ndim() - 1) {
      const float v = x[off++];
      out += std::isfinite(v) ? fmt::format("{}", v) : "null";
    } else {
      append_nested(out, x, s, dim + 1, off);
    }
  }
  out.push_back(']');
}

// A 0/1 or small-integer id list as a (1,T) int32 tensor of the same length as --ids.
OwnedTensor aux_tensor(const std::string& s, const std::string& flag, size_t T, int64_t limit) {
  std::vector<int64_t> v = parse_id_list(s, flag);
  LM_CHECK(v.size() == T, "{} has {} values but --ids has {}", flag, v.size(), T);
  OwnedTensor t(Shape{1, static_cast<int64_t>(T)}, DType::I32);
  for (size_t i = 0; i < v.size(); ++i) {
    LM_CHECK(v[i] >= 0 && v[i] < limit, "{}: value {} at position {} must be in [0, {})", flag, v[i], i, limit);
    t.t.ptr<int32_t>()[i] = static_cast<int32_t>(v[i]);
  }
  return t;
}

const CommandSpec kForward{
    .name = "forward",
    .summary = "run a model on one sequence and write its outputs (HF names, float32)",
    .description = "Runs the model on one sequence (batch 1) and names the outputs as HF ModelOutput fields:\n"
                   "  GPT-2: logits [1,T,V]\n"
                   "  BertForPreTraining: prediction_logits [1,T,V], seq_relationship_logits [1,2]\n"
                   "  BertForMaskedLM: logits [1,T,V]; BertModel: last_hidden_state [1,T,H], pooler_output [1,H]\n"
                   "  BertForSequenceClassification: logits [1,num_labels]\n"
                   "  BertForQuestionAnswering: start_logits [1,T], end_logits [1,T]\n"
                   "Without --out or --json it prints each output's shape and the argmax of its last row.",
    .flags = {
        string_flag("--model", "DIR", "model directory").required(),
        adapter_flag(),
        string_flag("--ids", "LIST", "token ids, separated by commas and/or blanks (464,2068,7586 or 464 2068 7586)")
            .required(),
        string_flag("--token-type-ids", "LIST", "BERT: one segment id per id, listed as --ids (default zeros)"),
        string_flag("--attention-mask", "LIST", "one 0/1 per id, listed as --ids (default ones)"),
        string_flag("--out", "FILE.safetensors", "write the outputs as float32 safetensors"),
        bool_flag("--json", "one JSON line {OUTPUT: nested lists of its shape}, e.g. {\"logits\": [[[...]]]}"),
        int_flag("--threads", "N", 0, "CPU threads (0: all)"),
    },
    .examples = {
        {.command = "lmcpp forward --model out/wikipedia/model --ids 464,2068,7586 --out logits.safetensors",
         .comment = "logits [1,3,V] as float32 safetensors"},
        {.command = "lmcpp forward --model out/bert_small --ids 101,7592,103,102 --token-type-ids 0,0,0,0 --json"},
    },
};

const CommandSpec kScore{
    .name = "score",
    .summary = "mean next-token loss and perplexity of a text under a GPT model",
    .description = "Prints the mean next-token cross-entropy over the T-1 predicted tokens, its perplexity and the "
                   "number of scored tokens. Give exactly one of --ids or --text.",
    .flags = {
        string_flag("--model", "DIR", "model directory (a causal LM: gpt2)").required(),
        adapter_flag(),
        string_flag("--ids", "LIST", "the text as token ids, separated by commas and/or blanks (464,2068 or 464 2068)"),
        string_flag("--text", "TEXT", "the text (needs tokenizer files in DIR)"),
        bool_flag("--json", "one JSON line {\"loss\", \"perplexity\", \"tokens\"}"),
        int_flag("--threads", "N", 0, "CPU threads (0: all)"),
    },
    .examples = {
        {.command = "lmcpp score --model quickstart/model --text \"A programmer is a machine for turning coffee into code.\" --json"},
    },
};

int run_forward(const Flags& f) {
  const std::string dir = f.str("--model");
  const std::string ids_s = f.str("--ids");
  const std::optional<std::string> tt = f.get("--token-type-ids");
  const std::optional<std::string> am = f.get("--attention-mask");
  const std::optional<std::string> out = f.get("--out");
  const bool json = f.on("--json");
  set_num_threads(static_cast<int>(f.i64("--threads")));
  std::vector<int64_t> ids = parse_id_list(ids_s, "--ids");
  auto model = interop::load_model(dir, f.str("--adapter"));
  OwnedTensor x = ids_tensor(ids, model->vocab_size(), "--ids", model->max_positions());
  OwnedTensor types, mask;
  if (tt) {
    const int64_t tv = model->hf_config().value("type_vocab_size", int64_t{2});
    types = aux_tensor(*tt, "--token-type-ids", ids.size(), tv);
  }
  if (am) mask = aux_tensor(*am, "--attention-mask", ids.size(), 2);
  // Named as the HF ModelOutput fields of the model's head, with HF shapes (batch 1).
  auto outputs = model->infer(x.t, types.t, mask.t);
  if (out) {
    std::vector<NamedTensor> named;
    for (const auto& [name, t] : outputs) named.push_back({name, t});
    write_safetensors(*out, named, {{"format", "pt"}});
  }
  if (json) {
    std::string s = "{";
    for (size_t i = 0; i < outputs.size(); ++i) {
      if (i) s += ",";
      s += Json(outputs[i].first).dump() + ":";
      int64_t off = 0;
      append_nested(s, outputs[i].second.f32(), outputs[i].second.shape, 0, off);
    }
    s += "}\n";
    std::fwrite(s.data(), 1, s.size(), stdout);
  } else if (!out) {
    for (const auto& [name, t] : outputs) {
      const int64_t V = t.dim(-1);
      const float* last = t.f32() + (t.numel() - V);
      int64_t best = 0;
      for (int64_t v = 1; v < V; ++v)
        if (last[v] > last[best]) best = v;
      std::printf("%s %s; argmax of the last row: %lld (%g)\n", name.c_str(), t.shape.str().c_str(),
                  static_cast<long long>(best), last[best]);
    }
  }
  return 0;
}

int run_score(const Flags& f) {
  const std::string dir = f.str("--model");
  const std::optional<std::string> ids_s = f.get("--ids");
  const std::optional<std::string> text = f.get("--text");
  const bool json = f.on("--json");
  set_num_threads(static_cast<int>(f.i64("--threads")));
  LM_CHECK(ids_s.has_value() != text.has_value(), "give exactly one of --ids or --text");
  auto model = interop::load_model(dir, f.str("--adapter"));
  LM_CHECK_AS(ErrorCode::Unsupported, model->causal_lm() != nullptr,
              "score needs a causal language model (gpt2); {} is {}", dir, model->architecture());
  std::vector<int64_t> ids;
  if (ids_s) {
    ids = parse_id_list(*ids_s, "--ids");
  } else {
    const std::string tdir = interop::tokenizer_source(dir, f.str("--adapter"));
    LM_CHECK_AS(ErrorCode::NotFound, interop::has_model_tokenizer(tdir), "--text needs tokenizer files in {}; use --ids", dir);
    auto tok = interop::load_model_tokenizer(tdir);
    for (int32_t id : tok->encode(*text, false)) ids.push_back(id);
  }
  LM_CHECK(ids.size() >= 2, "score needs at least 2 tokens (the first one is only context), got {}", ids.size());
  OwnedTensor x = ids_tensor(ids, model->vocab_size(), ids_s ? "--ids" : "--text", model->max_positions());
  const int64_t T = x.t.dim(1);
  OwnedTensor y(Shape{1, T}, DType::I32);
  for (int64_t t = 0; t < T; ++t) y.t.ptr<int32_t>()[t] = t + 1 < T ? x.t.ptr<int32_t>()[t + 1] : -100;
  models::Batch batch;
  batch.input_ids = x.t;
  batch.labels = y.t;
  const float loss = model->forward(batch);
  double ppl = std::exp(static_cast<double>(loss));
  if (json)
    std::printf("%s\n",
                OrderedJson{{"loss", loss}, {"perplexity", ppl}, {"tokens", model->last_num_targets()}}.dump().c_str());
  else
    std::printf("loss %.6f  perplexity %.4f  tokens %lld\n", loss, ppl, static_cast<long long>(model->last_num_targets()));
  return 0;
}

LM_DECLARE_COMMAND(kForward, run_forward);
LM_DECLARE_COMMAND(kScore, run_score);

}  // namespace
}  // namespace lm::cli
