// `lmcpp info`: build facts (version, CUDA compiled, threads, GEMM backend), or with --model the facts of a
// model directory (architecture, parameters, dtype and bytes, context, tokenizer, special tokens, chat
// template, files).
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "command.h"
#include "lm/interop/open.h"
#include "lm/core/device.h"
#include "lm/core/error.h"
#include "lm/core/file_util.h"
#include "lm/core/json.h"
#include "lm/core/threads.h"
#include "lm/models/model.h"
#include "lm/tokenize/chat_template.h"
#include "lm/tokenize/tokenizer.h"
#ifdef LM_WITH_CUDA
#include "lm/kernels/cuda/device_info.h"
#endif

namespace lm::cli {
namespace {

const CommandSpec kInfo{
    .name = "info",
    .summary = "print build and machine facts, or a model's",
    .description =
        "Prints the version, whether CUDA is compiled in (and the visible GPUs), the hardware threads "
        "and the GEMM backend. With --model: the model's architecture, parameter count, dtype and "
        "bytes, context length, vocabulary, tokenizer type and size, special tokens, whether it has a "
        "chat template, and the files of the directory.",
    .flags = {bool_flag("--json",
                        "one JSON line {\"version\", \"cuda\", \"hardware_threads\", \"gemm\"}; with --model "
                        "{\"model\", \"model_type\", \"architecture\", \"parameters\", \"dtype\", \"context_length\", "
                        "\"vocab_size\", \"tokenizer\": {\"type\", \"size\"} or null, \"chat_template\", "
                        "\"special_tokens\", \"weights_bytes\", \"files\"} (+ \"gguf\" for a GGUF file)"),
              string_flag("--model", "DIR", "describe this model directory instead")},
    .examples = {
        {.command = "lmcpp info",
         .comment = "version, CUDA, threads, GEMM backend"},
        {.command = "lmcpp info --model quickstart/model --json"},
    },
};

Json model_info(const std::string& dir) {
  auto model = interop::load_model(dir);
  const Json& cfg = model->hf_config();
  Json j{{"model", dir},
         {"model_type", model->model_type()},
         {"architecture", model->architecture()},
         {"parameters", model->num_parameters()},
         {"dtype", cfg.value("torch_dtype", std::string("float32"))},
         {"context_length", model->max_positions()},
         {"vocab_size", model->vocab_size()}};
  Json special = Json::object();
  for (const char* k : {"bos_token_id", "eos_token_id", "pad_token_id"})
    if (cfg.contains(k) && !cfg[k].is_null()) special[k] = cfg[k];
  if (interop::has_model_tokenizer(dir)) {
    auto tok = interop::load_model_tokenizer(dir);
    j["tokenizer"] = Json{{"type", tok->type()}, {"size", tok->vocab_size()}};
    const ChatTemplateSource t = interop::model_chat_template(dir);
    j["chat_template"] = t.builtin ? Json(nullptr) : Json(t.origin);
    for (const auto& [k, v] : {std::pair<const char*, std::string>{"bos_token", t.bos_token},
                               {"eos_token", t.eos_token},
                               {"unk_token", t.unk_token},
                               {"pad_token", t.pad_token}})
      if (!v.empty()) special[k] = v;
  } else {
    j["tokenizer"] = nullptr;
    j["chat_template"] = nullptr;
  }
  j["special_tokens"] = special;
  const Json files = interop::model_files_info(dir);
  j["weights_bytes"] = files["weights_bytes"];
  if (files["format"] == "gguf") {
    j["gguf"] = files;
    std::string dt;
    for (auto it = files["tensor_types"].begin(); it != files["tensor_types"].end(); ++it)
      dt += fmt::format("{}{} ({} tensors)", dt.empty() ? "" : ", ", it.key(), it.value().get<int64_t>());
    j["dtype"] = dt;
    j["files"] = Json::array({dir});
  } else {
    j["files"] = files["files"];
  }
  return j;
}

int describe_model(const std::string& dir, bool json) {
  const Json j = model_info(dir);
  if (json) {
    std::printf("%s\n", j.dump().c_str());
    return 0;
  }
  std::printf("%s: %s (%s), %lld parameters, %s, %lld bytes of weights\n", dir.c_str(),
              j["architecture"].get<std::string>().c_str(), j["model_type"].get<std::string>().c_str(),
              static_cast<long long>(j["parameters"].get<int64_t>()), j["dtype"].get<std::string>().c_str(),
              static_cast<long long>(j["weights_bytes"].get<int64_t>()));
  std::printf("context %lld tokens, vocabulary %lld\n",
              static_cast<long long>(j["context_length"].get<int64_t>()),
              static_cast<long long>(j["vocab_size"].get<int64_t>()));
  std::printf("tokenizer: %s\n", j["tokenizer"].is_null() ? "none" : j["tokenizer"].dump().c_str());
  std::printf("special tokens: %s\n", j["special_tokens"].dump().c_str());
  std::printf("chat template: %s\n", j["chat_template"].is_null()
                                         ? "none (the built-in ChatML is used)"
                                         : j["chat_template"].get<std::string>().c_str());
  std::printf("files: %s\n", j["files"].dump().c_str());
  return 0;
}

int run_info(const Flags& f) {
  const bool json = f.on("--json");
  if (f.given("--model")) return describe_model(f.str("--model"), json);
  std::string gpus;
#ifdef LM_WITH_CUDA
  for (const auto& d : cuda::list_devices())
    gpus += (gpus.empty() ? "" : ", ") + d.name + " (sm_" + std::to_string(d.sm_major) +
            std::to_string(d.sm_minor) + ")";
#endif
  if (!json && cuda_compiled()) std::printf("cuda devices: %s\n", gpus.empty() ? "none" : gpus.c_str());
  // The OpenMP wait settings this process runs with (lmcpp sets GOMP_SPINCOUNT unless the user set one; main.cpp).
  const char* policy = std::getenv("OMP_WAIT_POLICY");
  const char* spin = std::getenv("GOMP_SPINCOUNT");
  const std::string wait = std::string(policy ? "OMP_WAIT_POLICY=" + std::string(policy) : "") +
                           (policy && spin ? " " : "") + (spin ? "GOMP_SPINCOUNT=" + std::string(spin) : "");
  if (json)
    std::printf("%s\n", OrderedJson{{"version", LM_VERSION},
                                      {"cuda", cuda_compiled()},
                                      {"hardware_threads", hardware_threads()},
                                      {"gemm", "oneDNN"},
                                      {"openmp_wait", wait}}
                             .dump()
                             .c_str());
  else
    std::printf("lmcpp %s\ncuda: %s\nhardware threads: %d\ngemm: oneDNN sgemm\nopenmp wait: %s\n", LM_VERSION,
                cuda_compiled() ? "compiled" : "not compiled", hardware_threads(), wait.empty() ? "default" : wait.c_str());
  return 0;
}

LM_DECLARE_COMMAND(kInfo, run_info);

}  // namespace
}  // namespace lm::cli
