// `lmcpp finetune`: flags -> train::FinetuneOptions -> train::run_finetune (sequence classification, or QA:
// generative for causal LMs, extractive span QA otherwise). OUT receives the best epoch's model (HF directory
// with tokenizer files), metrics.jsonl, loss.svg, result.json and the checkpoints a rerun resumes from.
#include <cstdio>
#include <string>

#include "command.h"
#include "lm/core/threads.h"
#include "lm/train/finetune.h"

namespace lm::cli {
namespace {

int run_finetune(Args& a) {
  train::FinetuneOptions o;
  o.task = a.require("--task");
  o.model_dir = a.require("--model");
  o.train_path = a.require("--train");
  o.val_path = a.require("--val");
  o.out_dir = a.require("--out");
  set_num_threads(static_cast<int>(a.get_int("--threads", 0)));
  o.epochs = a.get_int("--epochs", 0);
  o.batch_size = a.get_int("--batch-size", 0);
  o.grad_accum = a.get_int("--grad-accum", o.grad_accum);
  o.lr = a.get_double("--lr", 0);
  o.warmup_ratio = a.get_double("--warmup-ratio", o.warmup_ratio);
  o.weight_decay = a.get_double("--weight-decay", o.weight_decay);
  o.grad_clip = a.get_double("--grad-clip", o.grad_clip);
  o.seed = static_cast<uint64_t>(a.get_int("--seed", static_cast<int64_t>(o.seed)));
  o.save_every = a.get_int("--save-every", 0);
  o.max_length = a.get_int("--max-length", 0);
  o.num_labels = a.get_int("--num-labels", 0);
  o.doc_stride = a.get_int("--doc-stride", o.doc_stride);
  o.max_answer_length = a.get_int("--max-answer-length", o.max_answer_length);
  o.max_new_tokens = a.get_int("--max-new-tokens", o.max_new_tokens);
  o.eval_examples = a.get_int("--eval-examples", o.eval_examples);
  o.max_train_examples = a.get_int("--max-train-examples", 0);
  o.device = parse_device(a.get_or("--device", "cpu"), "finetune");
  a.finish();
  LM_CHECK(o.task == "classify" || o.task == "qa", "unknown --task {} (expected classify or qa)", o.task);
  LM_CHECK(o.epochs >= 0 && o.batch_size >= 0 && o.grad_accum >= 1, "--epochs, --batch-size and --grad-accum must be "
           "positive");
  LM_CHECK(o.lr >= 0, "--lr {} must be positive", o.lr);
  const train::FinetuneReport rep = train::run_finetune(o);
  std::printf("%s\n", rep.summary.c_str());
  return 0;
}

LM_COMMAND("finetune", "fine-tune BERT for classification or GPT-2 for generative question answering",
           "usage: lmcpp finetune --task classify|qa --model DIR --train FILE --val FILE --out DIR [flags]\n"
           "  --task classify (BERT): data as TSV (label<TAB>text[<TAB>text_pair], or a GLUE header row), SST\n"
           "    \"label sentence\" lines, or JSON Lines {\"text\"|\"sentence\", \"label\", [\"text_pair\"]}.\n"
           "    A base / pretraining checkpoint gets a new classification head (num_labels from the training\n"
           "    labels, or --num-labels K). Flags: --epochs 3 --batch-size 32 --lr 2e-5 --max-length 128\n"
           "    --warmup-ratio 0.1 --weight-decay 0.01 --grad-clip 1.0 --seed 42 --device cpu|cuda (the model on one\n"
           "    GPU in a LM_CUDA=ON build).\n"
           "  --task qa (GPT-2): SQuAD JSON or JSON Lines {question, context, answer}; prompt\n"
           "    \"{context}\\nQuestion: {question}\\nAnswer:\" then \" {answer}\" + eos, loss on the answer only.\n"
           "    Flags: --epochs 2 --batch-size 8 --lr 5e-5 --warmup-ratio 0.1 --weight-decay 0.01 --seed 42\n"
           "    --max-new-tokens 30 --eval-examples N (per-epoch EM/F1 on the first N val questions; 0 = all)\n"
           "    --max-train-examples N.\n"
           "  --task qa (BERT): extractive, BertForQuestionAnswering span head on SQuAD JSON / JSONL with answer\n"
           "    offsets; windows [CLS] question [SEP] context [SEP] of --max-length 384 advanced by --doc-stride 128\n"
           "    tokens; best span with --max-answer-length 30. Flags: --epochs 2 --batch-size 16 --lr 5e-5\n"
           "    --device cpu|cuda.\n"
           "  Each epoch is evaluated on --val; OUT keeps the best epoch's model (with tokenizer files),\n"
           "  metrics.jsonl, loss.svg, result.json and checkpoints/ (--save-every N steps, default every epoch):\n"
           "  running the same command again resumes exactly where it stopped. --grad-accum K accumulates K\n"
           "  batches per optimizer step; under mpirun every rank takes --batch-size of each global batch.\n"
           "  --threads N sets the CPU threads.",
           run_finetune);

}  // namespace
}  // namespace lm::cli
