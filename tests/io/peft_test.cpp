// PEFT's adapter_config.json (io/peft.h): PEFT's module matching (a list matches a path equal to an entry or
// ending in "." + entry; a string is re.fullmatch), and malformed files as one BadFormat error naming the file.
#include <gtest/gtest.h>

#include <string>

#include "lm/core/error.h"
#include "lm/core/json.h"
#include "lm/io/peft.h"

namespace lm {
namespace {

LoraSpec spec(const Json& j) { return LoraSpec::from_json(j, "dir/adapter_config.json"); }

TEST(PeftConfig, TargetModulesMatchAsPeftMatches) {
  const LoraSpec l = spec({{"r", 4}, {"target_modules", {"c_proj", "query"}}});
  EXPECT_TRUE(l.targets("transformer.h.0.attn.c_proj"));
  EXPECT_TRUE(l.targets("transformer.h.3.mlp.c_proj"));
  EXPECT_TRUE(l.targets("bert.encoder.layer.0.attention.self.query"));
  EXPECT_TRUE(l.targets("query"));
  EXPECT_FALSE(l.targets("transformer.h.0.attn.xc_proj"));  // a whole path component, not a suffix of one
  EXPECT_FALSE(l.targets("transformer.h.0.attn.c_attn"));
  const LoraSpec r = spec({{"r", 4}, {"target_modules", R"(transformer\.h\.[01]\.mlp\.c_fc)"}});
  EXPECT_TRUE(r.targets("transformer.h.1.mlp.c_fc"));
  EXPECT_FALSE(r.targets("transformer.h.2.mlp.c_fc"));
  EXPECT_FALSE(r.targets("x.transformer.h.1.mlp.c_fc"));  // fullmatch, not search
  EXPECT_EQ(r.to_json()["target_modules"], R"(transformer\.h\.[01]\.mlp\.c_fc)");
  const LoraSpec a = spec({{"r", 4}, {"target_modules", "all-linear"}});
  EXPECT_TRUE(a.targets("bert.encoder.layer.0.output.dense"));
  EXPECT_EQ(a.to_json()["target_modules"], "all-linear");
}

TEST(PeftConfig, ScaleIsAlphaOverROrOverSqrtR) {
  EXPECT_FLOAT_EQ(spec({{"r", 8}, {"lora_alpha", 16}}).scale(), 2.0f);
  EXPECT_FLOAT_EQ(spec({{"r", 16}, {"lora_alpha", 16}, {"use_rslora", true}}).scale(), 4.0f);
}

void expect_bad(const Json& j, ErrorCode code, const std::string& part) {
  try {
    spec(j);
    ADD_FAILURE() << "accepted: " << j.dump();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    const std::string m = e.what();
    EXPECT_NE(m.find("dir/adapter_config.json"), std::string::npos) << m;
    EXPECT_NE(m.find(part), std::string::npos) << m;
    EXPECT_EQ(m.find('\n'), std::string::npos) << m;
  }
}

TEST(PeftConfig, MalformedFilesAreOneErrorNamingTheFile) {
  expect_bad({{"peft_type", {"LORA"}}}, ErrorCode::BadFormat, "type must be string");  // wrong JSON type
  expect_bad({{"r", "8"}}, ErrorCode::BadFormat, "type must be number");
  expect_bad({{"target_modules", 3}}, ErrorCode::BadFormat, "target_modules");
  expect_bad({{"target_modules", std::string(300, 'a')}}, ErrorCode::BadFormat, "at most 256");
  expect_bad({{"target_modules", "(unclosed"}}, ErrorCode::BadFormat, "not a valid regular expression");
  expect_bad({{"r", 0}}, ErrorCode::InvalidArgument, "r must be in [1, 4096]");
  expect_bad({{"peft_type", "IA3"}}, ErrorCode::Unsupported, "peft_type IA3");
  expect_bad({{"use_dora", true}}, ErrorCode::Unsupported, "use_dora");
  expect_bad({{"bias", "all"}}, ErrorCode::Unsupported, "bias");
  expect_bad(Json::array(), ErrorCode::BadFormat, "not a JSON object");
}

}  // namespace
}  // namespace lm
