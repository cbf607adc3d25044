// LoRA adapters as llama.cpp adapter GGUF files (see gguf_lora.h).
#include "lm/interop/gguf_lora.h"

#include <cmath>
#include <filesystem>
#include <map>

#include "lm/core/error.h"
#include "lm/interop/gguf_model.h"
#include "lm/interop/open.h"

namespace lm::interop {

namespace {

// The last path component of a directory ("out/lora/" -> "lora").
std::string base_name(std::string dir) {
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  const size_t slash = dir.find_last_of('/');
  return slash == std::string::npos ? dir : dir.substr(slash + 1);
}

}  // namespace

float gguf_lora_alpha(const LoraSpec& spec) {
  // llama.cpp: scale = alpha / r (llama_adapter_lora_weight::get_scale, r = lora_b's ne[0]). Its own converter
  // writes lora_alpha whatever use_rslora says, which under-scales rsLoRA adapters by √r; we keep PEFT's scale.
  const double r = static_cast<double>(spec.r);
  return static_cast<float>(spec.use_rslora ? spec.alpha * std::sqrt(r) : spec.alpha);
}

GgufWriter lora_gguf(models::LoraModel& m, GgmlType type, const std::string& name) {
  const LoraSpec& spec = m.spec();
  const std::vector<models::LoraModel::Module> mods = m.modules();
  // modules_to_save tensors (a classifier trained whole) follow the A/B pairs in adapter_tensors().
  const auto tensors = m.adapter_tensors();
  if (tensors.size() > 2 * mods.size())
    LM_THROW(ErrorCode::Unsupported,
             "GGUF export: the adapter trains {} whole (modules_to_save); llama.cpp's LoRA GGUF holds lora_a/lora_b "
             "pairs only: fold the adapter into the model and export that instead",
             tensors[2 * mods.size()].first.substr(std::string(kPeftPrefix).size()));
  LM_CHECK_AS(ErrorCode::Unsupported, spec.alpha != 0,
              "GGUF export: lora_alpha is 0 (a no-op adapter), which llama.cpp reads as scale 1");
  models::Model& base = m.base();
  const models::GgufMetadata meta = models::model_family(base.hf_config()).to_gguf(base.hf_config(), {});
  std::map<std::string, std::string> gguf_of;  // HF weight name -> llama.cpp tensor name
  for (const auto& p : base.param_list()) gguf_of[p.name] = p.gguf_name;

  GgufWriter w;
  w.set("general.architecture", GgufValue::str(meta.arch));
  w.set("general.type", GgufValue::str("adapter"));
  w.set("general.name", GgufValue::str(name));
  w.set("general.file_type", GgufValue::u32(gguf_file_type(type)));
  if (type == GgmlType::Q8_0) w.set("general.quantization_version", GgufValue::u32(2));
  w.set("adapter.type", GgufValue::str("lora"));
  w.set("adapter.lora.alpha", GgufValue::f32(gguf_lora_alpha(spec)));
  for (const auto& mod : mods) {
    LM_ASSERT(mod.scale == spec.scale());  // one rank and alpha for every module (no rank_pattern)
    const auto it = gguf_of.find(mod.weight_name);
    LM_CHECK_AS(ErrorCode::Unsupported, it != gguf_of.end() && !it->second.empty(),
                "GGUF export: the adapter targets {}, which has no tensor in llama.cpp's {} models", mod.module,
                meta.arch);
    // PEFT's A (r, in) and B (out, r) are nn.Linear-oriented even for GPT-2's Conv1D (fan_in_fan_out only says
    // how the base weight is stored); the GGUF base tensor is (out, in) too, so both go in as they are.
    for (const auto& [suffix, t] : {std::pair{".lora_a", mod.a}, std::pair{".lora_b", mod.b}}) {
      GgmlType ty = type;
      if (ty == GgmlType::Q8_0 && t.shape[1] % ggml_block_size(ty) != 0) ty = GgmlType::F16;
      w.add_tensor_f32(it->second + suffix, t.shape, ty, t.f32());
    }
  }
  return w;
}

std::string export_gguf_lora(const std::string& model_path, const std::string& adapter_dir, const std::string& type,
                             const std::string& out) {
  const GgmlType ty = gguf_weight_type(type);
  auto m = load_adapted_model(model_path, adapter_dir);
  const GgufWriter w = lora_gguf(*m, ty, base_name(adapter_dir));
  w.write(out);
  const LoraSpec& spec = m->spec();
  return fmt::format("{}: LoRA adapter for llama.cpp, {} modules, r {}, alpha {}{}, {} tensors, {} bytes", out,
                     m->modules().size(), spec.r, gguf_lora_alpha(spec), spec.use_rslora ? " (rsLoRA)" : "", type,
                     std::filesystem::file_size(out));
}

}  // namespace lm::interop
