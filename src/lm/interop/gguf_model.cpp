// GGUF export and import of models (see gguf_model.h).
#include "lm/interop/gguf_model.h"

#include <cstring>
#include <filesystem>
#include <set>

#include "lm/core/error.h"
#include "lm/core/file_util.h"
#include "lm/core/log.h"
#include "lm/interop/gguf_vocab.h"

namespace lm::interop {

GgmlType gguf_weight_type(const std::string& t) {
  if (t == "f32") return GgmlType::F32;
  if (t == "f16") return GgmlType::F16;
  if (t == "bf16") return GgmlType::BF16;
  if (t == "q8_0") return GgmlType::Q8_0;
  LM_THROW(ErrorCode::InvalidArgument, "GGUF export: type \"{}\" is not one of f32, f16, bf16, q8_0", t);
}

// llama.cpp's general.file_type (enum llama_ftype): ALL_F32 0, MOSTLY_F16 1, MOSTLY_Q8_0 7, MOSTLY_BF16 32.
uint32_t gguf_file_type(GgmlType t) {
  switch (t) {
    case GgmlType::F16: return 1;
    case GgmlType::Q8_0: return 7;
    case GgmlType::BF16: return 32;
    default: return 0;
  }
}

namespace {

// JSON metadata -> GGUF values: integers as uint32 (int32 arrays), floats as float32.
GgufValue to_value(const std::string& key, const Json& v) {
  if (v.is_boolean()) return GgufValue::boolean(v.get<bool>());
  if (v.is_string()) return GgufValue::str(v.get<std::string>());
  if (v.is_number_integer()) {
    const int64_t x = v.get<int64_t>();
    LM_CHECK(x >= 0 && x <= 0xffffffffLL, "GGUF export: {} = {} does not fit uint32", key, x);
    return GgufValue::u32(static_cast<uint32_t>(x));
  }
  if (v.is_number()) return GgufValue::f32(v.get<float>());
  LM_CHECK(v.is_array(), "GGUF export: {} has no GGUF type", key);
  if (!v.empty() && v[0].is_string()) return GgufValue::str_array(v.get<std::vector<std::string>>());
  if (!v.empty() && v[0].is_number_float()) return GgufValue::f32_array(v.get<std::vector<float>>());
  return GgufValue::i32_array(v.get<std::vector<int32_t>>());
}

// The tensors that stay f32 whatever the type: small tables llama.cpp adds whole rows of.
bool keep_f32(const std::string& name, const Shape& s) {
  return s.ndim() < 2 || name == "position_embd.weight" || name == "token_types.weight";
}

SpecialIds special_ids_of(const Json& c) {
  SpecialIds s;
  if (c.contains("bos_token_id") && c["bos_token_id"].is_number_integer()) s.bos = c["bos_token_id"].get<int64_t>();
  if (c.contains("eos_token_id") && c["eos_token_id"].is_number_integer()) s.eos = c["eos_token_id"].get<int64_t>();
  return s;
}
}  // namespace

std::string export_gguf(const std::string& dir, const GgufExportOptions& options, const std::string& out) {
  const GgmlType wtype = gguf_weight_type(options.type);
  auto model = models::load_model_dir(dir);
  const Json& config = model->hf_config();
  const models::ModelFamily& family = models::model_family(config);
  LM_CHECK_AS(ErrorCode::Unsupported, family.to_gguf, "GGUF export: {} models have no GGUF form", model->model_type());
  const models::GgufMetadata meta = family.to_gguf(config, {options.pooling});
  LM_CHECK_AS(ErrorCode::NotFound, has_tokenizer_files(dir),
              "GGUF export: {} has no tokenizer files (llama.cpp needs the vocabulary in the file)", dir);
  auto tok = load_tokenizer(dir);
  const ChatTemplateSource chat = find_chat_template(dir);

  GgufWriter w;
  w.set("general.architecture", GgufValue::str(meta.arch));
  std::string name = dir;
  while (name.size() > 1 && name.back() == '/') name.pop_back();
  name = name.substr(name.find_last_of('/') == std::string::npos ? 0 : name.find_last_of('/') + 1);
  w.set("general.name", GgufValue::str(name));
  w.set("general.file_type", GgufValue::u32(gguf_file_type(wtype)));
  if (wtype == GgmlType::Q8_0) w.set("general.quantization_version", GgufValue::u32(2));
  for (auto it = meta.kv.begin(); it != meta.kv.end(); ++it) w.set(it.key(), to_value(it.key(), it.value()));
  const Json tkv = tokenizer_to_gguf(*tok, model->vocab_size(), special_ids_of(config), chat.builtin ? "" : chat.source);
  for (auto it = tkv.begin(); it != tkv.end(); ++it) w.set(it.key(), to_value(it.key(), it.value()));

  std::vector<std::string> dropped;
  int64_t n_tensors = 0, fallback = 0;
  auto add = [&](const std::string& gname, const Tensor& t) {
    GgmlType ty = keep_f32(gname, t.shape) ? GgmlType::F32 : wtype;
    if (ty == GgmlType::Q8_0 && t.shape[t.shape.ndim() - 1] % ggml_block_size(ty) != 0) {
      ty = GgmlType::F16;  // rows that are not whole blocks (llama.cpp's converter falls back the same way)
      ++fallback;
    }
    w.add_tensor_f32(gname, t.shape, ty, t.f32());
    ++n_tensors;
  };
  auto params = model->param_list();
  for (const auto& p : params) {
    if (p.gguf_name.empty()) {
      dropped.push_back(p.name);
      continue;
    }
    add(p.gguf_name, p.param);
  }
  for (const auto& [gname, hf] : meta.copies)
    for (const auto& p : params)
      if (p.name == hf) add(gname, p.param);
  if (!dropped.empty())
    log_info("GGUF export: {} tensors have no llama.cpp counterpart and are not written (first: {})", dropped.size(),
             dropped.front());
  if (fallback) log_info("GGUF export: {} tensors with rows not a multiple of 32 written as f16", fallback);
  w.write(out);
  return fmt::format("{}: {} {} tensors, {} weights, {} bytes", out, n_tensors, meta.arch, options.type,
                     std::filesystem::file_size(out));
}

Json gguf_kv_json(const GgufFile& f) {
  Json kv = Json::object();
  for (const auto& [key, v] : f.kvs()) {
    switch (v.type) {
      case GgufType::BOOL: kv[key] = v.b; break;
      case GgufType::STRING: kv[key] = v.s; break;
      case GgufType::F32:
      case GgufType::F64: kv[key] = v.f; break;
      case GgufType::U64: kv[key] = v.u; break;
      case GgufType::ARRAY:
        if (v.elem == GgufType::STRING) kv[key] = v.strings;
        else if (v.elem == GgufType::F32 || v.elem == GgufType::F64) kv[key] = v.floats;
        else if (v.elem == GgufType::ARRAY) kv[key] = Json::array();
        else kv[key] = v.ints;
        break;
      default: kv[key] = v.i; break;
    }
  }
  return kv;
}

std::unique_ptr<models::Model> load_gguf_model(const std::string& path) { return load_gguf_model(GgufFile(path), path); }

std::unique_ptr<models::Model> load_gguf_model(const GgufFile& f, const std::string& path) {
  const Json kv = gguf_kv_json(f);
  const GgufValue* type = f.find("general.type");
  LM_CHECK_AS(ErrorCode::Unsupported, !type || type->type != GgufType::STRING || type->s != "adapter",
              "{}: a LoRA adapter GGUF (general.type \"adapter\"), not a model; llama.cpp applies it on the base "
              "model's GGUF (--lora), lmcpp takes the PEFT adapter directory (--adapter DIR)", path);
  const std::string arch = f.get("general.architecture").as_string("general.architecture");
  const models::ModelFamily& family = models::gguf_family(arch);
  models::GgufShapes shapes;
  for (const auto& t : f.tensors()) shapes[t.name] = t.shape;
  Json config;
  try {
    config = family.config_from_gguf(kv, shapes);
  } catch (const Error& e) {
    throw Error(e.code(), path + ": " + e.what());
  }
  auto model = models::create_model(config);
  std::set<std::string> used;
  auto params = model->param_list();
  for (auto& p : params) {
    if (p.gguf_name.empty()) continue;
    if (!f.find_tensor(p.gguf_name)) {
      LM_CHECK_AS(ErrorCode::BadFormat, p.gguf_optional, "{}: no tensor {} ({} architecture)", path, p.gguf_name, arch);
      continue;
    }
    f.read_f32(p.gguf_name, p.param.f32(), p.param.shape);
    used.insert(p.gguf_name);
  }
  // Tensors written as copies of a parameter (GPT-2's output.weight) must hold the same values: lmcpp ties them.
  for (const auto& [gname, hf] : family.to_gguf(config, {}).copies) {
    if (!f.find_tensor(gname)) continue;
    for (auto& p : params) {
      if (p.name != hf) continue;
      std::vector<float> x(static_cast<size_t>(p.param.numel()));
      f.read_f32(gname, x.data(), p.param.shape);
      LM_CHECK_AS(ErrorCode::Unsupported, std::memcmp(x.data(), p.param.f32(), x.size() * 4) == 0,
                  "{}: {} differs from {}; lmcpp's {} ties them (an untied output layer is not supported)", path,
                  gname, p.gguf_name, arch);
      used.insert(gname);
    }
  }
  for (const auto& t : f.tensors())
    LM_CHECK_AS(ErrorCode::Unsupported, used.count(t.name), "{}: tensor {} is not part of lmcpp's {} model", path,
                t.name, arch);
  return model;
}

std::unique_ptr<Tokenizer> load_gguf_tokenizer(const std::string& path) {
  GgufFile f(path);
  return tokenizer_from_gguf(gguf_kv_json(f), path);
}

ChatTemplateSource load_gguf_chat_template(const std::string& path) {
  GgufFile f(path);
  return chat_template_from_gguf(gguf_kv_json(f));
}

}  // namespace lm::interop
