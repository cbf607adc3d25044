// `lmcpp bench classify`: sequence-classification inference throughput of an encoder (see bench_classify.cpp).
#pragma once

#include "args.h"

namespace lm::cli {

// Runs the benchmark with the flags left in `a` (the "classify" positional already removed); returns the exit code.
int run_bench_classify(Args& a);

}  // namespace lm::cli
