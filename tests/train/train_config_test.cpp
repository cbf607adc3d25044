// The train config's declaration table (train/train_config.h): it holds exactly the keys from_json accepts, its
// defaults are the values training used before the table existed (bit for bit), the echo lists every key and parses
// back to the same config, and errors name config keys, not CLI flags.
#include <gtest/gtest.h>

#include <cstring>
#include <set>

#include "lm/core/error.h"
#include "lm/core/json.h"
#include "lm/train/train_config.h"

namespace lm {
namespace {

const Json kMinimal = {{"model", {{"model_type", "gpt2"}}}, {"data", "d"}};

template <typename T>
bool same_bits(T a, T b) {
  return std::memcmp(&a, &b, sizeof(T)) == 0;
}

TEST(TrainConfigKeys, DefaultsAreTheValuesTrainingUsedBefore) {
  const train::TrainConfig c = train::TrainConfig::from_json(kMinimal);
  EXPECT_EQ(c.batch_size, 8);
  EXPECT_EQ(c.seq_len, 256);
  EXPECT_EQ(c.grad_accum, 1);
  EXPECT_EQ(c.max_steps, 1000);
  EXPECT_EQ(c.max_tokens, 0);
  EXPECT_TRUE(same_bits(c.max_time_s, 0.0));
  EXPECT_TRUE(same_bits(c.schedule.lr, 6e-4));
  EXPECT_TRUE(same_bits(c.schedule.min_lr, 6e-4 * 0.1));
  EXPECT_EQ(c.schedule.kind, "cosine");
  EXPECT_EQ(c.schedule.warmup_steps, 0);
  EXPECT_EQ(c.schedule.max_steps, 1000);
  EXPECT_TRUE(same_bits(c.schedule.decay_fraction, 0.2));
  EXPECT_TRUE(same_bits(c.adamw.beta1, 0.9f));
  EXPECT_TRUE(same_bits(c.adamw.beta2, 0.95f));
  EXPECT_TRUE(same_bits(c.adamw.eps, 1e-8f));
  EXPECT_TRUE(same_bits(c.adamw.weight_decay, 0.1f));
  EXPECT_TRUE(same_bits(c.adamw.grad_clip, 1.0f));
  EXPECT_FALSE(c.dropout.has_value());
  EXPECT_EQ(c.seed, 1337u);
  EXPECT_EQ(c.threads, 0);
  EXPECT_EQ(c.eval_every, 0);
  EXPECT_EQ(c.eval_batches, 20);
  EXPECT_EQ(c.save_every, 0);
  EXPECT_EQ(c.keep_last, 2);
  EXPECT_TRUE(c.keep_best);
  EXPECT_EQ(c.early_stopping_patience, 0);
  EXPECT_TRUE(same_bits(c.early_stopping_min_delta, 0.0));
  EXPECT_EQ(c.log_every, 1);
  EXPECT_TRUE(c.shuffle);
  EXPECT_EQ(c.max_nonfinite, 5);
  EXPECT_EQ(c.zero, 0);
  EXPECT_EQ(c.device, Device::CPU);
  EXPECT_EQ(c.dtype, DType::F32);
  EXPECT_TRUE(same_bits(c.mlm_probability, 0.15));
  EXPECT_FALSE(c.whole_word_masking);
}

TEST(TrainConfigKeys, TheTableIsExactlyWhatFromJsonAccepts) {
  std::set<std::string> names;
  for (const auto& k : train::train_config_keys()) {
    EXPECT_TRUE(names.insert(k.name).second) << "declared twice: " << k.name;
    EXPECT_FALSE(k.help.empty()) << k.name;
    EXPECT_EQ(k.default_text.empty(), k.default_value.is_null()) << k.name;
  }
  // Every declared key with a default, given at that default, is accepted and changes nothing.
  Json all = kMinimal;
  for (const auto& k : train::train_config_keys())
    if (!k.default_value.is_null()) all[k.name] = k.default_value;
  all["comment"] = "x";
  all["min_lr"] = 6e-5;
  all["dropout"] = 0.0;
  EXPECT_NO_THROW(train::TrainConfig::from_json(all));
  try {
    train::TrainConfig::from_json(train::apply_overrides(kMinimal, {"lr_shedule=cosine"}));
    FAIL() << "an undeclared key was accepted";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "train config: unknown key \"lr_shedule\" (did you mean \"lr_schedule\"?)");
  }
}

TEST(TrainConfigKeys, EchoListsEveryKeyAndParsesBack) {
  const train::TrainConfig c = train::TrainConfig::from_json(train::apply_overrides(kMinimal, {"lr=1e-3"}));
  for (const auto& k : train::train_config_keys()) {
    if (!k.default_value.is_null()) {
      ASSERT_TRUE(c.raw.contains(k.name)) << k.name;
      if (k.name != "lr") {
        EXPECT_EQ(c.raw[k.name], k.default_value) << k.name;
      }
    }
  }
  EXPECT_EQ(c.raw["lr"], 1e-3);
  EXPECT_EQ(c.raw["model"], kMinimal["model"]);
  EXPECT_EQ(c.raw["data"], "d");
  EXPECT_DOUBLE_EQ(c.raw["min_lr"].get<double>(), 1e-4);  // derived from lr, recorded
  EXPECT_FALSE(c.raw.contains("init"));
  EXPECT_FALSE(c.raw.contains("dropout"));  // the model's own
  const train::TrainConfig back = train::TrainConfig::from_json(c.raw);
  EXPECT_EQ(back.raw, c.raw);
  EXPECT_TRUE(same_bits(back.schedule.min_lr, c.schedule.min_lr));
  EXPECT_TRUE(same_bits(back.adamw.beta2, c.adamw.beta2));
}

TEST(TrainConfigKeys, ErrorsNameConfigKeysNotFlags) {
  auto message = [](const Json& j) -> std::string {
    try {
      train::TrainConfig::from_json(j);
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_EQ(message(train::apply_overrides(kMinimal, {"batch_size=\"x\""})),
            "train config: \"batch_size\" has the wrong type: \"x\"");
  EXPECT_EQ(message(train::apply_overrides(kMinimal, {"keep_best=3"})),
            "train config: \"keep_best\" has the wrong type: 3");
  try {
    train::apply_overrides(kMinimal, {"novalue"});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).find("--set"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("key=value"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace lm
