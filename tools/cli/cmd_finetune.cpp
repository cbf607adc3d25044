// `lmcpp finetune`: flags -> train::FinetuneOptions -> train::run_finetune (sequence classification, or QA:
// generative for causal LMs, extractive span QA otherwise). OUT receives the best epoch's model (HF directory
// with tokenizer files), metrics.jsonl, loss.svg, result.json and the checkpoints a rerun resumes from.
#include <algorithm>
#include <csignal>
#include <cstdio>
#include <optional>
#include <string>

#include "command.h"
#include "out_dir.h"
#include "lm/core/error.h"
#include "lm/core/threads.h"
#include "lm/train/finetune.h"
#include "lm/train/trainer.h"

namespace lm::cli {
namespace {

const train::FinetuneOptions kDefaults;

void on_signal(int) {
  if (train::g_stop_requested.exchange(true)) std::_Exit(130);  // a second Ctrl-C: stop now
}

const CommandSpec kFinetune{
    .name = "finetune",
    .summary = "fine-tune BERT for classification, GPT-2 for generative question answering or dialogue",
    .description =
        "--task classify (BERT): data as TSV (label<TAB>text[<TAB>text_pair], or a GLUE header row), SST \"label "
        "sentence\" lines, or JSON Lines {\"text\"|\"sentence\", \"label\", [\"text_pair\"]}. A base / pretraining "
        "checkpoint gets a new classification head (num_labels from the training labels, or --num-labels K). "
        "Defaults: --epochs 3 --batch-size 32 --lr 2e-5 --max-length 128.\n"
        "--task qa (GPT-2): SQuAD JSON or JSON Lines {question, context, answer}; prompt \"{context}\\nQuestion: "
        "{question}\\nAnswer:\" then \" {answer}\" + eos, loss on the answer only. Defaults: --epochs 2 --batch-size 8 "
        "--lr 5e-5; per-epoch answer loss and EM/F1 (--max-new-tokens) on the first --eval-examples val questions.\n"
        "--task qa (BERT): extractive, BertForQuestionAnswering span head on SQuAD JSON / JSONL with answer offsets; "
        "windows [CLS] question [SEP] context [SEP] of --max-length 384 advanced by --doc-stride tokens; best span of "
        "at most --max-answer-length tokens. Defaults: --epochs 2 --batch-size 16 --lr 5e-5.\n"
        "--task chat (GPT-2): JSON Lines {\"messages\": [{\"role\", \"content\"}, ...]} rendered with the model's chat "
        "template (tokenizer_config.json / chat_template.jinja, else the built-in ChatML; --template chatml|FILE "
        "overrides); the loss on the assistant replies and their end-of-turn token only. Tokens the template needs "
        "(ChatML's <|im_start|>, <|im_end|>) are added to the tokenizer and the model's embeddings (mean init); the "
        "end of turn becomes the model's eos. Dialogues longer than the context are cut at turn boundaries into pieces "
        "of whole turns. Validation: assistant-token loss and perplexity. Defaults: --epochs 3 --batch-size 8 --lr "
        "5e-5.\n"
        "Each epoch is evaluated on --val; OUT keeps the best epoch's model (with tokenizer files), metrics.jsonl, "
        "loss.svg, result.json and checkpoints/: running the same command again resumes exactly where it stopped "
        "(other settings are refused; --overwrite starts afresh). OUT must not be, hold or lie inside --model, nor "
        "be a non-empty directory lmcpp did not make for finetune. Ctrl-C (or SIGTERM) stops after the current "
        "step with a checkpoint to resume from. "
        "Under mpirun every rank takes --batch-size of each global batch.",
    .flags = {
        choice_flag("--task", {"classify", "qa", "chat"}, std::nullopt, "what to fine-tune for (see above)").required(),
        string_flag("--model", "DIR", "the model to start from (HF directory with tokenizer files)").required(),
        string_flag("--train", "FILE", "training data").required(),
        string_flag("--val", "FILE", "validation data, evaluated after each epoch").required(),
        string_flag("--out", "DIR", "output directory (and the run to resume)").required(),
        int_flag("--epochs", "N", kDefaults.epochs, "epochs (0: the task's default)"),
        int_flag("--batch-size", "N", kDefaults.batch_size,
                 "examples per optimizer step and rank (0: the task's default)"),
        int_flag("--grad-accum", "K", kDefaults.grad_accum, "accumulate K batches per optimizer step"),
        double_flag("--lr", "LR", kDefaults.lr, "peak learning rate (0: the task's default)"),
        double_flag("--warmup-ratio", "F", kDefaults.warmup_ratio, "fraction of the steps with a linear warmup"),
        double_flag("--weight-decay", "W", kDefaults.weight_decay, "AdamW weight decay"),
        double_flag("--grad-clip", "C", kDefaults.grad_clip, "clip the gradient norm to C"),
        int_flag("--seed", "N", static_cast<int64_t>(kDefaults.seed), "seed of the head initialisation and shuffling"),
        int_flag("--save-every", "N", kDefaults.save_every, "checkpoint every N steps (0: every epoch)"),
        int_flag("--max-length", "N", kDefaults.max_length,
                 "classify, BERT qa: tokens per sequence / window (0: the task's default)"),
        int_flag("--num-labels", "K", kDefaults.num_labels,
                 "classify: label ids, when more than the training data shows (0: from the data)"),
        int_flag("--doc-stride", "N", kDefaults.doc_stride, "BERT qa: window advance in tokens"),
        int_flag("--max-answer-length", "N", kDefaults.max_answer_length, "BERT qa: answer span tokens at most"),
        int_flag("--max-new-tokens", "N", kDefaults.max_new_tokens, "GPT-2 qa: answer tokens at most in evaluation"),
        int_flag("--eval-examples", "N", kDefaults.eval_examples,
                 "validate on the first N val examples (sentences, questions, dialogues; 0: all)"),
        int_flag("--max-train-examples", "N", kDefaults.max_train_examples,
                 "train on the first N training examples only (0: all)"),
        string_flag("--template", "chatml|FILE", "chat: the chat template (default: the model's)")
            .only_with("--task", std::vector<std::string>{"chat"}),
        string_flag("--lora", "r=R,alpha=A[,dropout=D][,rslora=1]",
                    "train a LoRA adapter instead of every weight: OUT becomes a PEFT adapter directory"),
        string_flag("--lora-targets", "M1,M2,...",
                    "with --lora: the modules to adapt (default: gpt2 c_attn, bert query,value; all-linear: all)"),
        choice_flag("--device", {"cpu", "cuda"}, "cpu", "where the model trains (cuda: one GPU, LM_CUDA=ON builds)"),
        int_flag("--threads", "N", 0, "CPU threads (0: all)"),
        bool_flag("--overwrite", "start afresh in OUT: remove the files lmcpp wrote there"),
    },
    .examples = {
        {.command = "lmcpp finetune --task classify --model out/bert_small --train ../shared/data/sst2/stsa.binary.train --val ../shared/data/sst2/stsa.binary.dev --out out/sst2",
         .comment = "SST-2 sentiment on a BERT pretrained by lmcpp train"},
        {.command = "lmcpp finetune --task classify --model out/bert_small --train ../shared/data/sst2/stsa.binary.train --val ../shared/data/sst2/stsa.binary.dev --lora r=8,alpha=16 --out out/sst2_lora",
         .comment = "the same with a LoRA adapter (query, value) and the classifier trained, the encoder frozen"},
        {.command = "lmcpp finetune --task chat --model out/wikipedia/model --train ../shared/data/dialogue/topical-chat.train.jsonl --val ../shared/data/dialogue/topical-chat.dev.jsonl --out out/chat/model"},
    },
};

int run_finetune(const Flags& f) {
  train::FinetuneOptions o;
  o.task = f.str("--task");
  o.model_dir = f.str("--model");
  o.train_path = f.str("--train");
  o.val_path = f.str("--val");
  o.out_dir = f.str("--out");
  set_num_threads(static_cast<int>(f.i64("--threads")));
  o.epochs = f.i64("--epochs");
  o.batch_size = f.i64("--batch-size");
  o.grad_accum = f.i64("--grad-accum");
  o.lr = f.f64("--lr");
  o.warmup_ratio = f.f64("--warmup-ratio");
  o.weight_decay = f.f64("--weight-decay");
  o.grad_clip = f.f64("--grad-clip");
  o.seed = static_cast<uint64_t>(f.i64("--seed"));
  o.save_every = f.i64("--save-every");
  o.max_length = f.i64("--max-length");
  o.num_labels = f.i64("--num-labels");
  o.doc_stride = f.i64("--doc-stride");
  o.max_answer_length = f.i64("--max-answer-length");
  o.max_new_tokens = f.i64("--max-new-tokens");
  o.eval_examples = f.i64("--eval-examples");
  o.max_train_examples = f.i64("--max-train-examples");
  o.device = parse_device(f.str("--device"), "finetune");
  o.chat_template = f.str("--template");
  LM_CHECK(f.get("--lora") || !f.get("--lora-targets"), "--lora-targets needs --lora");
  if (f.get("--lora")) {
    o.lora = LoraSpec::from_flag(f.str("--lora"));
    const std::string targets = f.str("--lora-targets");
    for (size_t pos = 0; pos < targets.size();) {
      const size_t end = std::min(targets.find(',', pos), targets.size());
      if (end > pos) o.lora->target_modules.push_back(targets.substr(pos, end - pos));
      pos = end + 1;
    }
  }
  LM_CHECK(o.epochs >= 0 && o.batch_size >= 0 && o.grad_accum >= 1, "--epochs, --batch-size and --grad-accum must be "
           "positive");
  LM_CHECK(o.lr >= 0, "--lr {} must be positive", o.lr);
  OutDir dir({.command = "finetune",
              .out = o.out_dir,
              .inputs = {{"--model", o.model_dir}, {"--train", o.train_path}, {"--val", o.val_path}},
              .overwrite = f.on("--overwrite")});
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  train::FinetuneReport rep;
  try {
    rep = train::run_finetune(o);
  } catch (const Error& e) {
    if (!e.is_input_error()) dir.keep();  // a failure mid-run: metrics.jsonl says what happened
    throw;
  }
  dir.keep();
  if (train::g_stop_requested.load()) {
    std::fprintf(stderr, "lmcpp: finetune interrupted; checkpoint in %s/checkpoints: run the same command to "
                 "resume\n", o.out_dir.c_str());
    return 130;
  }
  std::printf("%s\n", rep.summary.c_str());
  return 0;
}

LM_DECLARE_COMMAND(kFinetune, run_finetune);

}  // namespace
}  // namespace lm::cli
