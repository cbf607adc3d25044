// `lmcpp bench bert`: BERT sequence-classification inference throughput (see bench_bert.cpp).
#pragma once

#include "args.h"

namespace lm::cli {

// Runs the benchmark with the flags left in `a` (the "bert" positional already removed); returns the exit code.
int run_bench_bert(Args& a);

}  // namespace lm::cli
