// models::LoraModel: binding an adapter onto a family's linear modules, its arenas, PEFT files and merging.
#include "lm/models/lora.h"

#include <cmath>
#include <cstring>
#include <map>

#include "lm/core/error.h"
#include "lm/core/file_util.h"
#include "lm/core/rng.h"
#include "lm/io/safetensors.h"
#include "lm/ops/matmul.h"

namespace lm::models {

namespace {

bool module_matches(const std::string& module, const std::string& name) {
  return module == name ||
         (module.size() > name.size() && module.compare(module.size() - name.size(), name.size(), name) == 0 &&
          module[module.size() - name.size() - 1] == '.');
}

// The module path of a parameter ("classifier.weight" -> "classifier").
std::string module_of(const std::string& param) {
  const size_t dot = param.rfind('.');
  return dot == std::string::npos ? std::string() : param.substr(0, dot);
}

}  // namespace

std::vector<std::string> lora_head_modules(Head head) {
  if (head == Head::SequenceClassification) return {"classifier", "score"};
  if (head == Head::QuestionAnswering) return {"qa_outputs"};
  return {};
}

std::string lora_task_type(Head head) {
  switch (head) {
    case Head::CausalLM:
      return "CAUSAL_LM";
    case Head::SequenceClassification:
      return "SEQ_CLS";
    case Head::QuestionAnswering:
      return "QUESTION_ANS";
    default:
      return "FEATURE_EXTRACTION";
  }
}

LoraModel::LoraModel(std::unique_ptr<Model> base, LoraSpec spec, uint64_t seed)
    : owned_(std::move(base)), base_(owned_.get()) {
  init(std::move(spec), seed);
}

LoraModel::LoraModel(Model& shared_base, LoraSpec spec, uint64_t seed) : base_(&shared_base) {
  init(std::move(spec), seed);
}

void LoraModel::init(LoraSpec spec, uint64_t seed) {
  spec_ = std::move(spec);
  LM_CHECK_AS(ErrorCode::Unsupported, base_->device() == Device::CPU, "LoRA adapters run on the CPU");
  if (spec_.target_modules.empty() && !spec_.target_is_regex)
    spec_.target_modules = model_family(base_->hf_config()).lora_targets;
  if (spec_.modules_to_save.empty()) spec_.modules_to_save = lora_head_modules(base_->head());
  if (spec_.task_type.empty()) spec_.task_type = lora_task_type(base_->head());
  bind(seed);
}

void LoraModel::bind(uint64_t seed) {
  // Frozen first, so that listing the parameters allocates no gradients.
  base_->freeze({});
  std::map<nn::LoraLayer**, size_t> layer_of;
  for (const LinearSite& s : base_->linear_sites()) {
    if (!spec_.targets(s.module)) continue;
    auto it = layer_of.find(s.slot);
    if (it == layer_of.end()) {
      it = layer_of.emplace(s.slot, layers_.size()).first;
      layers_.push_back(std::make_unique<nn::LoraLayer>());
      slots_.push_back(s.slot);
    }
    nn::LoraLayer& l = *layers_[it->second];
    nn::LoraModule m;
    m.row0 = s.row0;
    m.scale = spec_.scale();
    m.dropout = static_cast<float>(spec_.dropout);
    m.index = static_cast<int64_t>(entries_.size());
    l.modules.push_back(std::move(m));
    entries_.push_back({s.module, s.weight_name, it->second, l.modules.size() - 1, s.in_features, s.rows,
                        s.fan_in_fan_out});
    if (s.fan_in_fan_out) spec_.fan_in_fan_out = true;
  }
  LM_CHECK(!entries_.empty(), "LoRA: no {} module matches target_modules {}", base_->model_type(),
           spec_.to_json()["target_modules"].dump());
  std::vector<ParamRef> params = base_->param_list();
  for (const ParamRef& p : params)
    for (const auto& name : spec_.modules_to_save)
      if (module_matches(module_of(p.name), name)) {
        saved_.push_back({p.name, p.param, Tensor(), p.decay});
        break;
      }
  LM_CHECK_AS(ErrorCode::Unsupported, owned_ || saved_.empty(),
              "LoRA: an adapter with modules_to_save ({}) replaces tensors of the model, so it cannot share the "
              "model with other adapters; merge it (lmcpp merge-lora) and serve the merged model",
              saved_.front().name);
  // Arena layout: A, B of every module in order, then the modules_to_save tensors; gradients alike.
  std::vector<size_t> slots, gslots;
  for (const Entry& e : entries_)
    for (Shape sh : {Shape{spec_.r, e.in}, Shape{e.rows, spec_.r}}) {
      slots.push_back(params_arena_.reserve(sh));
      gslots.push_back(grads_arena_.reserve(sh));
      trainable_ += sh.numel();
    }
  for (const Saved& s : saved_) {
    slots.push_back(params_arena_.reserve(s.param.shape));
    gslots.push_back(grads_arena_.reserve(s.param.shape));
    trainable_ += s.param.numel();
  }
  params_arena_.allocate();
  grads_arena_.allocate();
  size_t k = 0;
  for (const Entry& e : entries_) {
    nn::LoraModule& m = layers_[e.layer]->modules[e.in_layer];
    m.a = params_arena_.tensor(slots[k]);
    m.ga = grads_arena_.tensor(gslots[k++]);
    m.b = params_arena_.tensor(slots[k]);
    m.gb = grads_arena_.tensor(gslots[k++]);
  }
  std::vector<TrainableTensor> keep;
  for (Saved& s : saved_) {
    Tensor own = params_arena_.tensor(slots[k]);
    s.grad = grads_arena_.tensor(gslots[k++]);
    keep.push_back({s.name, own, s.grad});
    s.param = own;
  }
  base_->freeze(keep);  // copies the base's values into the trainable tensors
  run_.num_modules = static_cast<int64_t>(entries_.size());
  for (auto& l : layers_) l->run = &run_;
  attach();
  init_weights(seed);
}

void LoraModel::init_weights(uint64_t seed) {
  for (size_t i = 0; i < entries_.size(); ++i) {
    const nn::LoraModule& m = layers_[entries_[i].layer]->modules[entries_[i].in_layer];
    // kaiming_uniform_(a=√5) on (r, in): gain √(2/6), bound gain·√(3/in) = 1/√in.
    const float bound = 1.0f / std::sqrt(static_cast<float>(entries_[i].in));
    const Rng rng(seed, i);
    float* a = m.a.f32();
    for (int64_t j = 0; j < m.a.numel(); ++j) a[j] = (2.0f * rng.uniform(static_cast<uint64_t>(j)) - 1.0f) * bound;
    std::memset(m.b.data, 0, m.b.nbytes());
  }
}

void LoraModel::attach() {
  LM_CHECK(!merged_, "LoRA: a merged adapter cannot be attached again");
  for (size_t i = 0; i < layers_.size(); ++i) *slots_[i] = layers_[i].get();
}

void LoraModel::detach() {
  for (size_t i = 0; i < layers_.size(); ++i)
    if (*slots_[i] == layers_[i].get()) *slots_[i] = nullptr;
}

bool LoraModel::attached() const {
  for (size_t i = 0; i < layers_.size(); ++i)
    if (*slots_[i] != layers_[i].get()) return false;
  return !layers_.empty();
}

std::vector<LoraModel::Module> LoraModel::modules() const {
  std::vector<Module> out;
  for (const Entry& e : entries_) {
    const nn::LoraModule& m = layers_[e.layer]->modules[e.in_layer];
    out.push_back({e.module, e.weight_name, m.scale, m.a, m.b, e.fan_in_fan_out});
  }
  return out;
}

std::vector<std::pair<std::string, Tensor>> LoraModel::adapter_tensors() const {
  std::vector<std::pair<std::string, Tensor>> out;
  for (const Module& m : modules()) {
    out.push_back({kPeftPrefix + m.module + ".lora_A.weight", m.a});
    out.push_back({kPeftPrefix + m.module + ".lora_B.weight", m.b});
  }
  for (const Saved& s : saved_) out.push_back({kPeftPrefix + s.name, s.param});
  return out;
}

std::vector<ParamRef> LoraModel::param_list() {
  std::vector<ParamRef> out;
  for (const Entry& e : entries_) {
    const nn::LoraModule& m = layers_[e.layer]->modules[e.in_layer];
    out.push_back({kPeftPrefix + e.module + ".lora_A.weight", m.a, m.ga, true, Tensor(), ""});
    out.push_back({kPeftPrefix + e.module + ".lora_B.weight", m.b, m.gb, true, Tensor(), ""});
  }
  for (const Saved& s : saved_) out.push_back({kPeftPrefix + s.name, s.param, s.grad, s.decay, Tensor(), ""});
  return out;
}

void LoraModel::zero_grad() {
  if (grads_arena_.bytes() > 0) std::memset(grads_arena_.data(), 0, grads_arena_.bytes());
  base_->zero_grad();
}

float LoraModel::forward(const Batch& batch, const ForwardOptions& opt) {
  run_.training = opt.training;
  run_.seed = opt.seed;
  run_.stream = opt.stream;
  return base_->forward(batch, opt);
}

double LoraModel::train_flops_per_token(int64_t T) const {
  const double fwd = base_->forward_flops_per_token(T);
  const double adapter = 6.0 * static_cast<double>(trainable_);
  return (fwd > 0 ? 2.0 * fwd : base_->train_flops_per_token(T) * 2.0 / 3.0) + adapter;
}

void LoraModel::load_safetensors(const std::string& path) { load_tensors(SafetensorsFile(path)); }

void LoraModel::load_tensors(const SafetensorsFile& st) {
  const std::string& path = st.path();
  for (auto& [name, t] : adapter_tensors()) {
    LM_CHECK_AS(ErrorCode::BadFormat, st.contains(name), "{}: tensor {} is missing (the adapter_config.json "
                "targets that module)", path, name);
    st.read_f32(name, t.f32(), t.shape);
  }
  for (const auto& e : st.tensors())
    LM_CHECK_AS(ErrorCode::BadFormat, e.name.rfind(kPeftPrefix, 0) == 0,
                "{}: tensor {} is not a PEFT adapter tensor (base_model.model.*)", path, e.name);
  // A modules_to_save tensor changed here must reach the base's inference copies.
  base_->set_inference_dtype(DType::F32);
}

void LoraModel::save_adapter(const std::string& dir) const {
  LM_CHECK(!merged_, "LoRA: a merged adapter cannot be saved as an adapter");
  make_dirs(dir);
  std::vector<NamedTensor> ts;
  for (auto& [name, t] : adapter_tensors()) ts.push_back({name, t});
  write_safetensors(path_join(dir, kAdapterWeightsFile), ts, {{"format", "pt"}});
  write_file_atomic(path_join(dir, kBaseConfigFile), base_->hf_config().dump(2) + "\n");
  write_file_atomic(path_join(dir, kAdapterConfigFile), spec_.to_json().dump(2) + "\n");
}

namespace {

// The adapter_config.json of an adapter directory and the path of its weights, checked to exist.
std::pair<LoraSpec, std::string> adapter_files(const std::string& adapter_dir) {
  LM_CHECK_AS(ErrorCode::NotFound, is_directory(adapter_dir), "adapter directory {} does not exist", adapter_dir);
  LoraSpec spec = read_adapter_config(adapter_dir);
  std::string weights = path_join(adapter_dir, kAdapterWeightsFile);
  LM_CHECK_AS(ErrorCode::NotFound, file_exists(weights), "{} not found (an adapter directory holds "
              "adapter_config.json + adapter_model.safetensors)", weights);
  return {std::move(spec), std::move(weights)};
}

}  // namespace

std::unique_ptr<LoraModel> LoraModel::load(std::unique_ptr<Model> base, const std::string& adapter_dir) {
  auto [spec, weights] = adapter_files(adapter_dir);
  auto m = std::make_unique<LoraModel>(std::move(base), std::move(spec), 0);
  m->load_safetensors(weights);
  return m;
}

std::unique_ptr<LoraModel> LoraModel::load(Model& shared_base, const std::string& adapter_dir) {
  auto [spec, weights] = adapter_files(adapter_dir);
  auto m = std::make_unique<LoraModel>(shared_base, std::move(spec), 0);
  m->load_safetensors(weights);
  return m;
}

int AdapterSet::add(const std::string& name, const std::string& dir) {
  LM_CHECK(!name.empty(), "an adapter needs a name");
  LM_CHECK(find(name) < 0, "two adapters are named {}", name);
  const int was = active_;
  activate(-1);  // a new adapter binds itself: start from the bare base
  adapters_.push_back(LoraModel::load(base_, dir));
  adapters_.back()->detach();
  names_.push_back(name);
  dirs_.push_back(dir);
  activate(was);
  return size() - 1;
}

int AdapterSet::find(const std::string& name) const {
  for (size_t i = 0; i < names_.size(); ++i)
    if (names_[i] == name) return static_cast<int>(i);
  return -1;
}

void AdapterSet::activate(int i) {
  LM_CHECK(i >= -1 && i < size(), "adapter index {} is out of range ({} adapters)", i, size());
  if (i == active_) return;
  if (active_ >= 0) adapters_[static_cast<size_t>(active_)]->detach();
  if (i >= 0) adapters_[static_cast<size_t>(i)]->attach();
  active_ = i;
}

void LoraModel::merge() {
  if (merged_) return;
  const std::vector<LinearSite> sites = base_->linear_sites();
  std::map<std::string, Tensor> weight_of;
  for (const LinearSite& s : sites) weight_of[s.module] = s.weight;
  for (const Module& m : modules()) ops::gemm(weight_of.at(m.module), m.b, m.a, false, false, m.scale, 1.0f);
  detach();
  merged_ = true;
  base_->set_inference_dtype(DType::F32);  // inference copies made before are stale
}

std::unique_ptr<Model> LoraModel::to(Device device) const {
  LM_CHECK_AS(ErrorCode::Unsupported, device == Device::CPU, "LoRA adapters run on the CPU");
  auto m = std::make_unique<LoraModel>(base_->to(device), spec_, 0);
  std::memcpy(m->params_arena_.data(), params_arena_.data(), params_arena_.bytes());
  return m;
}

std::optional<int64_t> adapter_vocab_rows(const Model& base, const std::string& adapter_dir) {
  const std::string path = path_join(adapter_dir, kAdapterWeightsFile);
  if (!file_exists(path)) return std::nullopt;
  SafetensorsFile st(path);
  for (const auto& module : model_family(base.hf_config()).lora_embeddings)
    for (const auto& e : st.tensors())
      if (e.shape.ndim() == 2 && module_matches(module_of(e.name), module) && e.shape[0] != base.vocab_size())
        return e.shape[0];
  return std::nullopt;
}

}  // namespace lm::models
