// Shared by the trainer tests (CPU and CUDA): a small prepared-data directory, a GPT train config over it, and
// the per-step train losses read back from metrics.jsonl.
#pragma once

#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "harness/harness.h"
#include "lm/core/file_util.h"
#include "lm/core/json.h"
#include "lm/data/shard.h"

namespace lm {

// Writes a small prepared-data directory: a deterministic pseudo-text over `vocab` ids.
inline std::string make_data(const std::string& name, int vocab) {
  std::string dir = test::temp_dir(name);
  auto write = [&](const std::string& file, int n, int seed) {
    ShardWriter w(path_join(dir, file), 2, static_cast<uint32_t>(vocab), vocab - 1);
    std::vector<int32_t> ids;
    uint32_t s = static_cast<uint32_t>(seed);
    for (int i = 0; i < n; ++i) {
      s = s * 1103515245u + 12345u;
      // Mostly a repeating phrase so there is something to learn, plus noise.
      ids.push_back((s >> 16) % 5 == 0 ? static_cast<int32_t>((s >> 8) % (vocab - 1)) : (i % 11) * 2 % (vocab - 1));
    }
    w.append(ids);
    w.add_documents(1);
    w.commit();
  };
  write("train_000000.bin", 6000, 1);
  write("val_000000.bin", 800, 2);
  Json meta = {{"format", "lmcpp-token-shards"}, {"vocab_size", vocab}, {"eos_id", vocab - 1},
               {"tokenizer_dir", "tokenizer"}};
  write_file_atomic(path_join(dir, "meta.json"), meta.dump());
  return dir;
}

inline std::string write_config(const std::string& dir, const std::string& data, int64_t max_steps) {
  Json cfg = {{"model", {{"n_layer", 2}, {"n_head", 2}, {"n_embd", 32}, {"n_positions", 32}}},
              {"data", data},
              {"batch_size", 4},
              {"seq_len", 16},
              {"grad_accum", 2},
              {"max_steps", max_steps},
              {"lr", 1e-2},
              {"warmup_steps", 2},
              {"lr_schedule", "cosine"},
              {"eval_every", 4},
              {"eval_batches", 3},
              {"save_every", 4},
              {"dropout", 0.1},
              {"seed", 5},
              {"threads", 2}};
  std::string p = path_join(dir, "cfg.json");
  write_file_atomic(p, cfg.dump(2));
  return p;
}

inline std::vector<std::pair<int64_t, double>> train_losses(const std::string& out) {
  std::vector<std::pair<int64_t, double>> v;
  std::istringstream in(read_file(path_join(out, "metrics.jsonl")));
  std::string line;
  while (std::getline(in, line)) {
    Json j = Json::parse(line);
    if (j.contains("loss") && j.contains("step") && j["loss"].is_number())
      v.push_back({j["step"].get<int64_t>(), j["loss"].get<double>()});
  }
  return v;
}

// A WordPiece vocabulary over a small word list and a text corpus of documents made of them, prepared with
// `lmcpp prepare` (the sentences layout is the default for WordPiece tokenizers).
// Documents of six "The <topic> <verb> on the <object>." sentences; the topic noun is fixed per document and cycles
// through `topics` nouns.
inline std::string make_bert_data(const std::string& name, int docs = 80, int topics = 3) {
  std::string dir = test::temp_dir(name);
  const std::vector<std::string> words = {"the", "cat", "dog", "sat", "on", "mat", "ran", "to", "a", "park",
                                          "big", "small", "red", "blue", "saw", "bird", "tree", "under", "and",
                                          "then", "slept", "ate", "fish", "bone"};
  std::string vocab = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n.\n";  // uncased: "The" -> the
  for (const auto& w : words) vocab += w + "\n";
  make_dirs(path_join(dir, "tok"));
  write_file_atomic(path_join(dir, "tok/vocab.txt"), vocab);
  std::string text;
  uint32_t s = 7;
  const int topic_word[6] = {1, 2, 15, 16, 22, 23};  // cat dog bird tree fish bone
  for (int doc = 0; doc < docs; ++doc) {
    for (int sent = 0; sent < 6; ++sent) {
      // Subject-verb-object sentences with a topic word per document: structure to learn for MLM and NSP.
      s = s * 1103515245u + 12345u;
      text += "The " + words[topic_word[doc % topics]] + " " + words[3 + (s >> 16) % 4] + " on the " + words[9 + (s >> 20) % 6] +
              ". ";
    }
    text += "\n\n";
  }
  write_file_atomic(path_join(dir, "corpus.txt"), text);
  auto r = test::run_cli({"prepare", "--input", path_join(dir, "corpus.txt"), "--split", "blank-line",
                          "--tokenizer", path_join(dir, "tok"), "--out", path_join(dir, "data"), "--val-fraction",
                          "0.2", "--quiet"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return path_join(dir, "data");
}

}  // namespace lm
