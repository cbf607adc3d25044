// Output directory protection: overlap with the inputs, foreign non-empty directories, the run marker,
// --overwrite and the removal of a directory a failed run made.
#include "out_dir.h"

#include <cstdlib>
#include <filesystem>

#include "lm/core/error.h"
#include "lm/core/file_util.h"
#include "lm/core/json.h"

namespace lm::cli {
namespace {

namespace fs = std::filesystem;

fs::path full(const std::string& p) {
  std::error_code ec;
  fs::path r = fs::weakly_canonical(fs::absolute(p), ec);
  if (ec) r = fs::absolute(p).lexically_normal();
  if (r.filename().empty()) r = r.parent_path();
  return r;
}

// True when `inner` is `outer` or lies below it.
bool within(const fs::path& inner, const fs::path& outer) {
  auto [a, b] = std::mismatch(outer.begin(), outer.end(), inner.begin(), inner.end());
  return a == outer.end();
}

// What lmcpp's writing commands put in an output directory; --overwrite removes these and keeps anything
// else.
bool written_by_lmcpp(const std::string& n) {
  static const char* const kNames[] = {kRunMarker,
                                       "checkpoints",
                                       "best",
                                       "metrics.jsonl",
                                       "loss.svg",
                                       "train_config.json",
                                       "result.json",
                                       "meta.json",
                                       "tokenizer",
                                       "config.json",
                                       "model.safetensors",
                                       "generation_config.json",
                                       "vocab.json",
                                       "merges.txt",
                                       "vocab.txt",
                                       "tokenizer.json",
                                       "tokenizer_config.json",
                                       "special_tokens_map.json",
                                       "char_vocab.json",
                                       "chat_template.jinja",
                                       "added_tokens.json",
                                       "adapter_config.json",
                                       "adapter_model.safetensors"};
  for (const char* k : kNames)
    if (n == k) return true;
  const bool shard = (n.rfind("train_", 0) == 0 || n.rfind("val_", 0) == 0) && n.ends_with(".bin");
  return shard || n.find(".tmp") != std::string::npos || n.rfind(".prepare-tmp-", 0) == 0;
}

// The command that made OUT: its marker, else what an older lmcpp left (train_config.json: a train or
// finetune run; meta.json: prepare), else "".
std::string maker(const std::string& out, const std::string& command) {
  const std::string marker = path_join(out, kRunMarker);
  if (file_exists(marker)) {
    try {
      return read_json_file(marker).value("command", std::string());
    } catch (const std::exception&) {
      return "";
    }
  }
  if ((command == "train" || command == "finetune") && file_exists(path_join(out, "train_config.json")))
    return command;
  if (command == "prepare" && file_exists(path_join(out, "meta.json"))) return command;
  return "";
}

}  // namespace

// This process's rank when a launcher started several (mpirun: Open MPI / PMIx / PMI variables; torchrun style:
// RANK with WORLD_SIZE > 1); 0 otherwise.
static int launch_rank() {
  for (const char* v : {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK"})
    if (const char* s = std::getenv(v)) return std::atoi(s);
  const char* world = std::getenv("WORLD_SIZE");
  const char* rank = std::getenv("RANK");
  return world && rank && std::atoi(world) > 1 ? std::atoi(rank) : 0;
}

OutDir::OutDir(const OutDirRequest& r) : out_(r.out) {
  const fs::path out = full(r.out);
  for (const auto& [name, path] : r.inputs) {
    if (path.empty()) continue;
    const fs::path in = full(path);
    const char* how = out == in         ? "is"
                      : within(out, in) ? "lies inside"
                      : within(in, out) ? "holds"
                                        : nullptr;
    LM_CHECK(how == nullptr, "--out {} {} the input {} {}: write the output to another directory", r.out, how,
             name, path);
  }
  std::error_code ec;
  LM_CHECK(!fs::exists(out, ec) || fs::is_directory(out, ec), "--out {} is a file, not a directory", r.out);
  // Data-parallel ranks share OUT: rank 0 alone checks, clears (--overwrite) and marks it, as it alone writes
  // the run's files; the other ranks would race it (and see its first files as a foreign directory's).
  if (launch_rank() > 0) {
    make_dirs(r.out);
    keep_ = true;
    return;
  }
  const bool exists = fs::exists(out, ec), empty = !exists || fs::is_empty(out, ec);
  if (!empty) {
    const std::string by = maker(r.out, r.command);
    LM_CHECK(r.overwrite || by == r.command,
             "--out {} is a non-empty directory {}: choose a new directory, or pass --overwrite to replace "
             "the files "
             "lmcpp writes there",
             r.out, by.empty() ? "that lmcpp did not make" : "made by lmcpp " + by + ", not " + r.command);
    if (r.overwrite)
      for (const auto& e : fs::directory_iterator(out))
        if (written_by_lmcpp(e.path().filename().string())) fs::remove_all(e.path());
  }
  made_ = !exists;
  make_dirs(r.out);
  const std::string marker = path_join(r.out, kRunMarker);
  if (!file_exists(marker)) write_file_atomic(marker, Json{{"command", r.command}}.dump() + "\n");
}

OutDir::~OutDir() {
  if (!made_ || keep_) return;
  std::error_code ec;
  if (fs::is_directory(fs::path(out_) / "checkpoints", ec)) return;  // resumable: a re-run continues it
  fs::remove_all(out_, ec);
}

}  // namespace lm::cli
