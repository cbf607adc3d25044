// The did-you-mean helper: optimal string alignment distance and the max(2, len/3) threshold.
#include "lm/core/suggest.h"

#include <gtest/gtest.h>

namespace lm {
namespace {

TEST(Suggest, EditDistanceCountsEditsAndAdjacentSwaps) {
  EXPECT_EQ(edit_distance("", ""), 0u);
  EXPECT_EQ(edit_distance("abc", ""), 3u);
  EXPECT_EQ(edit_distance("", "abc"), 3u);
  EXPECT_EQ(edit_distance("n_layer", "n_layer"), 0u);
  EXPECT_EQ(edit_distance("n_layers", "n_layer"), 1u);        // deletion
  EXPECT_EQ(edit_distance("n_embed", "n_embd"), 1u);          // deletion
  EXPECT_EQ(edit_distance("lr_shedule", "lr_schedule"), 1u);  // insertion
  EXPECT_EQ(edit_distance("trian", "train"), 1u);             // one adjacent swap, not two substitutions
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
  EXPECT_EQ(edit_distance("ca", "abc"), 3u);  // optimal string alignment (true Damerau gives 2)
}

TEST(Suggest, ClosestMatchWithinTheThreshold) {
  const std::vector<std::string> keys = {"n_layer", "n_head", "n_embd", "n_positions", "vocab_size"};
  EXPECT_EQ(closest_match("n_layers", keys), "n_layer");
  EXPECT_EQ(closest_match("n_embed", keys), "n_embd");
  EXPECT_EQ(closest_match("n_heads", keys), "n_head");
  EXPECT_EQ(closest_match("vocab", keys), "");  // 5 edits from vocab_size: too far
  EXPECT_EQ(closest_match("completely_unrelated", keys), "");
  EXPECT_EQ(closest_match("n_layer", keys), "");  // a known name is not its own suggestion
  // Short names still get two edits; long names len/3.
  EXPECT_EQ(closest_match("ab", {"ba", "xyz"}), "ba");
  EXPECT_EQ(closest_match("--max-new-token", {"--max-new-tokens", "--model"}), "--max-new-tokens");
  EXPECT_EQ(closest_match("scale_attn_by_layer_idx", {"scale_attn_by_inverse_layer_idx"}), "");
  EXPECT_EQ(closest_match("scale_atn_by_inverse_layer_id", {"scale_attn_by_inverse_layer_idx"}),
            "scale_attn_by_inverse_layer_idx");
  // Ties go to the first candidate.
  EXPECT_EQ(closest_match("cat", {"bat", "hat"}), "bat");
}

TEST(Suggest, DidYouMeanPhrase) {
  EXPECT_EQ(did_you_mean("trian", {"tokenize", "train", "generate"}), " (did you mean \"train\"?)");
  EXPECT_EQ(did_you_mean("xyzzy", {"tokenize", "train", "generate"}), "");
  EXPECT_EQ(did_you_mean("x", {}), "");
}

}  // namespace
}  // namespace lm
