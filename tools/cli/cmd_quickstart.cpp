// `lmcpp quickstart`: the main job on a built-in default. Takes the English prose of Debian's `fortunes` package
// (quotations, jokes, short stories and poems; installed by scripts/setup.sh), trains a byte-level BPE tokenizer
// on it, prepares token shards, pretrains a small GPT on all cores for about ten minutes with the progress line,
// saves it as an HF directory with its loss plot, and prints samples for a few prompts. Re-running resumes.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "command.h"
#include "lm/core/error.h"
#include "lm/core/file_util.h"
#include "lm/core/json.h"
#include "lm/core/log.h"
#include "lm/core/threads.h"
#include "lm/data/prepare.h"
#include "lm/generate/generator.h"
#include "lm/models/model.h"
#include "lm/tokenize/train.h"
#include "lm/train/optimizer.h"
#include "lm/train/trainer.h"

namespace lm::cli {
namespace {

namespace fs = std::filesystem;

// Fortune files hold entries separated by lines that are exactly "%". Prefers the UTF-8 (.u8) variants.
int64_t write_fortunes_corpus(const std::string& corpus_dir, const std::string& jsonl, const std::string& txt) {
  LM_CHECK_AS(ErrorCode::NotFound, is_directory(corpus_dir),
              "{} not found: install Debian's fortunes package (scripts/setup.sh does) or pass --corpus DIR",
              corpus_dir);
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(corpus_dir)) {
    if (!e.is_regular_file()) continue;
    std::string p = e.path().string();
    if (e.path().extension() == ".dat") continue;
    if (e.path().extension() == ".u8") continue;
    std::string u8 = p + ".u8";
    files.push_back(file_exists(u8) ? u8 : p);
  }
  std::sort(files.begin(), files.end());
  LM_CHECK_AS(ErrorCode::NotFound, !files.empty(), "no fortune files in {}", corpus_dir);
  std::string out_jsonl, out_txt;
  int64_t n = 0;
  for (const auto& f : files) {
    std::istringstream in(read_file(f));
    std::string line, cur;
    int64_t k = 0;
    auto flush = [&] {
      size_t a = cur.find_first_not_of(" \t\n"), b = cur.find_last_not_of(" \t\n");
      if (a != std::string::npos) {
        std::string text = cur.substr(a, b - a + 1);
        Json j{{"title", fs::path(f).stem().string() + " #" + std::to_string(++k)}, {"text", text}};
        std::string dumped;
        try {
          dumped = j.dump();
        } catch (const Json::type_error&) {
          cur.clear();
          return;  // not UTF-8: skip the entry
        }
        out_jsonl += dumped + "\n";
        out_txt += text + "\n\n";
        ++n;
      }
      cur.clear();
    };
    while (std::getline(in, line)) {
      if (line == "%") {
        flush();
      } else {
        cur += line + "\n";
      }
    }
    flush();
  }
  write_file_atomic(jsonl, out_jsonl);
  write_file_atomic(txt, out_txt);
  return n;
}

const CommandSpec kQuickstart{
    .name = "quickstart",
    .summary = "the built-in demo: tokenizer, data, a small GPT trained for ~10 minutes, samples",
    .description =
        "Builds a corpus from Debian's fortunes package, trains a 4096-token byte-level BPE tokenizer, prepares "
        "shards, trains a 4-layer GPT (n_embd 256, T 128) for up to M minutes (the step count is fitted to the "
        "budget by timing a few steps) or N steps, then prints samples. Outputs go to DIR: corpus.jsonl, "
        "tokenizer/, data/, model/ (HF directory, metrics.jsonl, loss.svg). Re-running resumes.",
    .flags = {
        string_flag("--out", "DIR", "quickstart", "output directory"),
        string_flag("--corpus", "DIR", "/usr/share/games/fortunes", "a directory of fortune files"),
        double_flag("--minutes", "M", 10.0, "training time budget"),
        int_flag("--steps", "N", 0, "train N steps instead of fitting them to --minutes (0: fit)"),
        int_flag("--threads", "N", 0, "CPU threads (0: all)"),
    },
    .examples = {
        {.command = "lmcpp quickstart",
         .comment = "about 10 minutes; then try lmcpp generate --model quickstart/model --prompt \"Hello\""},
        {.command = "lmcpp quickstart --minutes 2 --out quick2"},
    },
};

// The paths of a quickstart directory.
struct QuickstartPaths {
  explicit QuickstartPaths(const std::string& dir)
      : jsonl(path_join(dir, "corpus.jsonl")), txt(path_join(dir, "corpus.txt")), tok_dir(path_join(dir, "tokenizer")),
        data_dir(path_join(dir, "data")), model_dir(path_join(dir, "model")),
        cfg_path(path_join(dir, "train_config.json")) {}
  std::string jsonl, txt, tok_dir, data_dir, model_dir, cfg_path;
};

// Steps 1-3: the corpus, the tokenizer and the token shards, each made only when it is not there yet.
void prepare_inputs(const QuickstartPaths& p, const std::string& corpus, int threads) {
  if (!file_exists(p.jsonl)) {
    int64_t n = write_fortunes_corpus(corpus, p.jsonl, p.txt);
    std::fprintf(stderr, "[1/5] corpus: %lld entries from %s -> %s\n", static_cast<long long>(n), corpus.c_str(),
                 p.jsonl.c_str());
  } else {
    std::fprintf(stderr, "[1/5] corpus: %s (exists)\n", p.jsonl.c_str());
  }
  if (!has_tokenizer_files(p.tok_dir)) {
    BpeTrainOptions bo;
    bo.vocab_size = 4096;
    bo.min_frequency = 2;
    bo.special_tokens = {"<|endoftext|>"};
    auto tok = train_byte_level_bpe({p.txt}, bo);
    make_dirs(p.tok_dir);
    tok->save(p.tok_dir);
    std::fprintf(stderr, "[2/5] tokenizer: byte-level BPE, %lld tokens -> %s\n",
                 static_cast<long long>(tok->vocab_size()), p.tok_dir.c_str());
  } else {
    std::fprintf(stderr, "[2/5] tokenizer: %s (exists)\n", p.tok_dir.c_str());
  }
  if (!file_exists(path_join(p.data_dir, "meta.json"))) {
    auto tok = load_tokenizer(p.tok_dir);
    PrepareOptions po;
    po.inputs = {p.jsonl};
    po.out_dir = p.data_dir;
    po.format = InputFormat::Jsonl;
    po.val_fraction = 0.05;
    po.tokenizer_name = p.tok_dir;
    po.threads = threads;
    PrepareStats st = prepare_dataset(po, *tok);
    std::fprintf(stderr, "[3/5] data: %lld documents, %llu train + %llu val tokens -> %s\n",
                 static_cast<long long>(st.documents), static_cast<unsigned long long>(st.train_tokens),
                 static_cast<unsigned long long>(st.val_tokens), p.data_dir.c_str());
  } else {
    std::fprintf(stderr, "[3/5] data: %s (exists)\n", p.data_dir.c_str());
  }
}

// The step count that fits the time budget: times a few steps of this model on this machine, so the cosine
// schedule ends when the budget does (a run cut by max_time would stop at a high learning rate).
int64_t fit_steps(const Json& model_cfg, const std::string& data_dir, double minutes) {
  Json m = model_cfg;
  m["vocab_size"] = read_json_file(path_join(data_dir, "meta.json")).at("vocab_size");
  std::unique_ptr<models::Model> pm = models::create_model(m);
  models::Model& probe = *pm;
  probe.init_weights(1);
  train::AdamW opt(probe, train::AdamWConfig{});
  OwnedTensor x(Shape{16, 128}, DType::I32);
  for (int64_t i = 0; i < x.numel(); ++i) x.t.ptr<int32_t>()[i] = static_cast<int32_t>(i % 97);
  std::vector<double> ts;
  for (int i = 0; i < 6; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    probe.zero_grad();
    models::Batch batch;
    batch.input_ids = x.t;
    batch.labels = x.t;
    probe.forward(batch, {/*training=*/true});
    probe.backward(1.0f / static_cast<float>(probe.last_num_targets()));
    opt.step(1e-3f);
    if (i > 0) ts.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ts.begin(), ts.end());
  const double step_s = ts[ts.size() / 2] * 1.1;  // + evaluation and checkpoints
  const int64_t steps = std::clamp<int64_t>(static_cast<int64_t>(minutes * 60.0 / step_s), 100, 20000);
  std::fprintf(stderr, "      measured %.0f ms/step on %d threads -> %lld steps fit in %.0f minutes\n", step_s * 1e3,
               num_threads(), static_cast<long long>(steps), minutes);
  return steps;
}

// Step 4: writes OUT/train_config.json and trains the model into OUT/model (resuming from its checkpoints).
void train_model(const QuickstartPaths& p, const Json& model_cfg, int64_t steps, double minutes, int threads) {
  Json cfg = {{"model", model_cfg},
              {"data", p.data_dir},
              {"batch_size", 16},
              {"seq_len", 128},
              {"max_steps", steps},
              {"max_time", minutes * 60.0 * 1.5},
              {"lr", 2e-3},
              {"min_lr", 2e-4},
              {"lr_schedule", "cosine"},
              {"warmup_steps", 100},
              {"weight_decay", 0.1},
              {"grad_clip", 1.0},
              {"eval_every", 200},
              {"eval_batches", 20},
              {"save_every", 400},
              {"seed", 1337},
              {"threads", threads}};
  write_file_atomic(p.cfg_path, cfg.dump(2) + "\n");
  std::fprintf(stderr, "[4/5] training a 4-layer GPT for up to %.0f minutes (%lld steps); config: %s\n", minutes,
               static_cast<long long>(steps), p.cfg_path.c_str());
  train::TrainResult r = train::run_training(train::TrainConfig::from_json(cfg), p.model_dir);
  std::fprintf(stderr, "      step %lld, train loss %.3f, best val loss %.3f; loss plot: %s\n",
               static_cast<long long>(r.steps), r.last_loss, r.best_val_loss,
               path_join(p.model_dir, "loss.svg").c_str());
}

// Step 5: a sample for each of a few prompts (temperature 0.8, top-k 40, seed 7).
void print_samples(const std::string& model_dir) {
  std::fprintf(stderr, "[5/5] samples (temperature 0.8, top-k 40):\n");
  auto model = models::load_model_dir(model_dir);
  const models::CausalLM& lm = *model->causal_lm();
  auto tok = load_tokenizer(model_dir);
  generate::GenerateOptions opt;
  opt.max_new_tokens = 60;
  opt.sampling.temperature = 0.8f;
  opt.sampling.top_k = 40;
  opt.sampling.seed = 7;
  opt.eos_id = static_cast<int32_t>(lm.eos_token_id());
  for (const char* prompt : {"The meaning of life is", "A programmer", "Love is", "Once upon a time"}) {
    auto ids = tok->encode(prompt, false);
    auto res = generate::generate(lm, {ids}, opt, tok.get());
    std::printf("--- %s%s\n", prompt, tok->decode(res.ids[0], true).c_str());
  }
  std::printf("---\nmodel: %s (HF directory; try: build/lmcpp generate --model %s --prompt \"Hello\")\n",
              model_dir.c_str(), model_dir.c_str());
}

int run_quickstart(const Flags& f) {
  const std::string out = f.str("--out");
  const std::string corpus = f.str("--corpus");
  const double minutes = f.f64("--minutes");
  int64_t steps = f.i64("--steps");
  const int threads = static_cast<int>(f.i64("--threads"));
  LM_CHECK(minutes > 0 && steps >= 0, "--minutes must be positive and --steps >= 0");
  set_num_threads(threads);
  make_dirs(out);
  const QuickstartPaths p(out);
  prepare_inputs(p, corpus, threads);
  const Json model_cfg = {{"model_type", "gpt2"}, {"n_layer", 4}, {"n_head", 4}, {"n_embd", 256}, {"n_positions", 256}};
  if (steps == 0 && file_exists(p.cfg_path)) {
    steps = read_json_file(p.cfg_path).value("max_steps", int64_t{0});  // a resumed run keeps its plan
  }
  if (steps == 0) steps = fit_steps(model_cfg, p.data_dir, minutes);
  train_model(p, model_cfg, steps, minutes, threads);
  print_samples(p.model_dir);
  return 0;
}

LM_DECLARE_COMMAND(kQuickstart, run_quickstart);

}  // namespace
}  // namespace lm::cli
