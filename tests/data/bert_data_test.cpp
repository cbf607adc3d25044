// BERT pretraining data: sentence splitting, NSP pairs (lengths, labels, provenance), 15% / 80-10-10 masking
// statistics, whole-word masking, batch layout, dynamic masking per epoch and cursor restore.
#include "lm/data/bert_data.h"

#include <gtest/gtest.h>

#include <map>

#include "data/test_util.h"
#include "harness/harness.h"
#include "lm/core/error.h"
#include "lm/core/file_util.h"
#include "lm/data/prepare.h"
#include "lm/data/shard.h"

namespace lm {
namespace {

TEST(BertData, SplitSentences) {
  auto s = split_sentences(
      "Dr. Smith went to Washington. He arrived at 5 p.m. on Monday! Was it late? \"Yes.\" J. R. R. Tolkien "
      "wrote books, e.g. The Hobbit.\nA new line starts here\n\n  Trailing.  ");
  std::vector<std::string> want = {"Dr. Smith went to Washington.",
                                   "He arrived at 5 p.m. on Monday!",
                                   "Was it late?",
                                   "\"Yes.\"",
                                   "J. R. R. Tolkien wrote books, e.g. The Hobbit.",
                                   "A new line starts here",
                                   "Trailing."};
  EXPECT_EQ(s, want);
  EXPECT_TRUE(split_sentences("  \n\n").empty());
}

// Document d, sentence s, token k -> id 1000 * (d + 1) + 10 * s + k (ids identify their document).
std::vector<TokenizedDocument> make_docs(int ndocs, int nsent, int len) {
  std::vector<TokenizedDocument> docs(static_cast<size_t>(ndocs));
  for (int d = 0; d < ndocs; ++d)
    for (int s = 0; s < nsent; ++s) {
      std::vector<int32_t> sent;
      for (int k = 0; k < len; ++k) sent.push_back(1000 * (d + 1) + 10 * s + k % 10);
      docs[static_cast<size_t>(d)].push_back(sent);
    }
  return docs;
}

TEST(BertData, NspExamples) {
  auto docs = make_docs(20, 30, 7);
  NspConfig c;
  c.max_seq_len = 64;
  c.seed = 5;
  auto ex = create_nsp_examples(docs, c);
  ASSERT_GT(ex.size(), 100u);
  int random = 0;
  for (const auto& e : ex) {
    EXPECT_LE(e.a.size() + e.b.size(), 61u);
    ASSERT_FALSE(e.a.empty());
    ASSERT_FALSE(e.b.empty());
    bool same_doc = e.a[0] / 1000 == e.b[0] / 1000;
    EXPECT_EQ(same_doc, e.next_sentence_label == 0);
    random += e.next_sentence_label;
    if (e.next_sentence_label == 0) {
      EXPECT_GE(e.b.front() % 1000, e.a.back() % 1000 - 9);  // B after A
    }
  }
  double frac = static_cast<double>(random) / static_cast<double>(ex.size());
  EXPECT_GT(frac, 0.35);
  EXPECT_LT(frac, 0.65);
  auto again = create_nsp_examples(docs, c);
  ASSERT_EQ(again.size(), ex.size());
  EXPECT_EQ(again[7].a, ex[7].a);
  EXPECT_THROW(create_nsp_examples(docs, NspConfig{4, 0.1, 0.5, 0}), Error);
}

BertSpecialTokens specials() {
  BertSpecialTokens sp;
  sp.pad = 0;
  sp.cls = 1;
  sp.sep = 2;
  sp.mask = 3;
  sp.vocab_size = 100;
  return sp;
}

TEST(BertData, MaskingStatistics) {
  auto sp = specials();
  MaskConfig mc;
  int64_t selected = 0, masked = 0, randomized = 0, kept = 0, total = 0;
  for (uint64_t s = 0; s < 400; ++s) {
    std::vector<int32_t> ids(128), orig, labels(128);
    ids[0] = sp.cls;
    for (int i = 1; i < 127; ++i) ids[i] = 10 + (i % 80);
    ids[127] = sp.sep;
    orig = ids;
    mask_sequence(ids.data(), labels.data(), 128, sp, mc, nullptr, 9, s);
    EXPECT_EQ(labels[0], -100);
    EXPECT_EQ(labels[127], -100);
    EXPECT_EQ(ids[0], sp.cls);
    for (int i = 1; i < 127; ++i) {
      ++total;
      if (labels[i] == -100) {
        EXPECT_EQ(ids[i], orig[i]);
        continue;
      }
      EXPECT_EQ(labels[i], orig[i]);
      ++selected;
      if (ids[i] == sp.mask)
        ++masked;
      else if (ids[i] == orig[i])
        ++kept;
      else
        ++randomized;
    }
  }
  double fs = static_cast<double>(selected) / static_cast<double>(total);
  EXPECT_NEAR(fs, 0.15, 0.01);
  EXPECT_NEAR(static_cast<double>(masked) / static_cast<double>(selected), 0.8, 0.02);
  EXPECT_NEAR(static_cast<double>(randomized + kept) / static_cast<double>(selected), 0.2, 0.02);
  EXPECT_GT(kept, randomized / 3);  // random draws that hit the same id count as kept
}

TEST(BertData, WholeWordMasking) {
  auto sp = specials();
  MaskConfig mc;
  mc.whole_word = true;
  std::vector<uint8_t> cont(100, 0);
  for (int i = 50; i < 100; ++i) cont[static_cast<size_t>(i)] = 1;  // ids >= 50 are "##" pieces
  for (uint64_t s = 0; s < 50; ++s) {
    // Words: [10 50 51] [11] [12 52] ... repeated.
    std::vector<int32_t> ids = {sp.cls};
    for (int w = 0; w < 20; ++w) {
      ids.push_back(10 + w);
      for (int k = 0; k < w % 3; ++k) ids.push_back(50 + k);
    }
    ids.push_back(sp.sep);
    std::vector<int32_t> orig = ids, labels(ids.size());
    int64_t len = static_cast<int64_t>(ids.size());
    mask_sequence(ids.data(), labels.data(), len, sp, mc, &cont, 3, s);
    int64_t n = 0;
    for (int64_t i = 1; i + 1 < len; ++i) {
      bool sel = labels[static_cast<size_t>(i)] != -100;
      n += sel;
      // A "##" piece is selected exactly when the token before it (same word) is.
      if (orig[static_cast<size_t>(i)] >= 50) {
        EXPECT_EQ(sel, labels[static_cast<size_t>(i - 1)] != -100);
      }
    }
    EXPECT_GE(n, 1);
    EXPECT_LE(n, 6);  // ~15% of 40 tokens, never overshooting by a whole word
  }
}

TEST(BertData, LoaderBatchesLayoutDynamicMaskAndCursor) {
  std::vector<NspExample> ex;
  for (int i = 0; i < 10; ++i) ex.push_back({{10, 11, 12}, {20 + i, 21}, i % 2});
  GptLoaderConfig c;
  c.batch_size = 2;
  c.seq_len = 12;
  c.shuffle = false;
  BertLoader l(ex, specials(), MaskConfig{}, c);
  EXPECT_EQ(l.batches_per_epoch(), 5u);
  BertBatch b;
  l.next(b);
  ASSERT_EQ(b.input_ids.size(), 24u);
  std::vector<int32_t> labels_or_ids(12);
  for (int i = 0; i < 12; ++i) labels_or_ids[i] = b.labels[i] != -100 ? b.labels[i] : b.input_ids[i];
  EXPECT_EQ(labels_or_ids, (std::vector<int32_t>{1, 10, 11, 12, 2, 20, 21, 2, 0, 0, 0, 0}));
  EXPECT_EQ(std::vector<int32_t>(b.token_type_ids.begin(), b.token_type_ids.begin() + 12),
            (std::vector<int32_t>{0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0}));
  EXPECT_EQ(std::vector<int32_t>(b.attention_mask.begin(), b.attention_mask.begin() + 12),
            (std::vector<int32_t>{1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0}));
  EXPECT_EQ(b.next_sentence_label, (std::vector<int32_t>{0, 1}));

  // Dynamic masking: over many examples and two epochs, masks differ between epochs; a restored cursor
  // replays.
  std::vector<NspExample> many;
  for (int i = 0; i < 64; ++i) {
    NspExample e;
    for (int k = 0; k < 40; ++k) e.a.push_back(10 + k);
    e.b = {60, 61, 62};
    many.push_back(e);
  }
  GptLoaderConfig c2;
  c2.batch_size = 8;
  c2.seq_len = 48;
  c2.seed = 4;
  BertLoader l2(many, specials(), MaskConfig{}, c2);
  std::vector<BertBatch> epoch0, epoch1;
  for (int i = 0; i < 8; ++i) {
    l2.next(b);
    epoch0.push_back(b);
  }
  LoaderCursor saved = l2.cursor();
  for (int i = 0; i < 8; ++i) {
    l2.next(b);
    epoch1.push_back(b);
  }
  EXPECT_EQ(l2.cursor().epoch, 1u);
  int same = 0;
  for (int i = 0; i < 8; ++i) same += epoch0[i].labels == epoch1[i].labels;
  EXPECT_LT(same, 2);
  BertLoader l3(many, specials(), MaskConfig{}, c2);
  l3.set_cursor(saved);
  for (int i = 0; i < 8; ++i) {
    l3.next(b);
    EXPECT_EQ(b.input_ids, epoch1[i].input_ids);
    EXPECT_EQ(b.labels, epoch1[i].labels);
  }
  c2.seq_len = 20;
  EXPECT_THROW(BertLoader(many, specials(), MaskConfig{}, c2), Error);
}

TEST(BertData, DocumentsFromDumpToBatches) {
  LM_REQUIRE_SHARED_DATA();
  test::ByteTokenizer tok;
  auto docs = load_bert_documents({test::shared_data_dir() + "/wikipedia/enwiki-table-markup.xml.bz2"}, tok);
  ASSERT_EQ(docs.size(), 5u);
  bool found = false;
  for (auto& d : docs) {
    EXPECT_GT(d.size(), 3u);
    for (auto& s : d)
      found = found || tok.decode(s) ==
                           "The economy of Estonia is strongly influenced by developments in the "
                           "Finnish and Swedish economies.";
  }
  EXPECT_TRUE(found);
  NspConfig nc;
  nc.max_seq_len = 128;
  auto ex = create_nsp_examples(docs, nc);
  EXPECT_GT(ex.size(), 100u);
  BertSpecialTokens sp;
  sp.cls = 300;  // outside the byte range of the test tokenizer
  sp.sep = 301;
  sp.mask = 302;
  sp.pad = 303;
  sp.vocab_size = 304;
  GptLoaderConfig c;
  c.batch_size = 4;
  c.seq_len = 128;
  BertLoader l(ex, sp, MaskConfig{}, c);
  BertBatch b;
  l.next(b);
  EXPECT_EQ(b.input_ids[0], 300);
  EXPECT_EQ(b.next_sentence_label.size(), 4u);
}

// `prepare` with the sentences layout stores exactly the documents and sentences the in-memory builder makes
// (each sentence + separator, one more separator per document), and the reader gives them back.
TEST(BertData, SentencesLayoutRoundTrip) {
  LM_REQUIRE_SHARED_DATA();
  test::ByteTokenizer tok;  // separator: its eos id 256
  const std::string dump = test::shared_data_dir() + "/wikipedia/enwiki-table-markup.xml.bz2";
  PrepareOptions o;
  o.inputs = {dump};
  o.out_dir = test::temp_dir("bert_sentences_layout");
  o.progress = false;
  o.val_fraction = 0;
  o.layout = DataLayout::Sentences;
  PrepareStats st = prepare_dataset(o, tok);
  EXPECT_EQ(st.meta["layout"], "sentences");
  auto expected = load_bert_documents({dump}, tok);
  auto got = read_sentence_documents(list_shards(o.out_dir, "train"), 256, 257);
  ASSERT_EQ(got.size(), expected.size());
  for (size_t d = 0; d < got.size(); ++d) EXPECT_EQ(got[d], expected[d]) << "document " << d;
  // A separator id in the wrong place of the header (another tokenizer) and ids beyond the vocabulary are
  // format errors naming the file.
  EXPECT_THROW(read_sentence_documents(list_shards(o.out_dir, "train"), 102, 257), Error);
  try {
    read_sentence_documents(list_shards(o.out_dir, "train"), 256, 100);
    ADD_FAILURE() << "ids >= vocab accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::BadFormat);
    EXPECT_NE(std::string(e.what()).find("train_000000.bin"), std::string::npos) << e.what();
  }
}

// A one-document corpus split by position is cut after a sentence separator: both sides hold whole sentences.
TEST(BertData, SentencesLayoutPositionSplitKeepsSentencesWhole) {
  test::ByteTokenizer tok;
  std::string dir = test::temp_dir("bert_sentences_position");
  std::string text;
  for (int i = 0; i < 40; ++i) text += "Sentence number " + std::to_string(i) + " is here.\n";
  write_file_atomic(path_join(dir, "one.txt"), text);
  PrepareOptions o;
  o.inputs = {path_join(dir, "one.txt")};
  o.out_dir = path_join(dir, "out");
  o.progress = false;
  o.val_fraction = 0.1;
  o.layout = DataLayout::Sentences;
  PrepareStats st = prepare_dataset(o, tok);
  EXPECT_EQ(st.split_mode, "position");
  auto train = read_sentence_documents(list_shards(o.out_dir, "train"), 256, 257);
  auto val = read_sentence_documents(list_shards(o.out_dir, "val"), 256, 257);
  ASSERT_EQ(train.size(), 1u);
  ASSERT_EQ(val.size(), 1u);
  EXPECT_EQ(train[0].size() + val[0].size(), 40u);
  EXPECT_EQ(tok.decode(val[0].front()), "Sentence number " + std::to_string(train[0].size()) + " is here.");
}

}  // namespace
}  // namespace lm
