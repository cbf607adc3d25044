// lmcpp: one binary, subcommands registered by cmd_*.cpp. Errors end here as one line
// "lmcpp: error: <what>, <where>" on stderr; exit 2 for bad input/usage, 1 for runtime failures.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <new>
#include <string>
#include <vector>

#include "command.h"
#include "lm/core/error.h"
#include "lm/core/suggest.h"

// OpenMP's waiting threads (libgomp) spin about 300,000 times, milliseconds, before they sleep. On a machine whose
// cores are all busy (another job, a CI box, a server's neighbours) that spinning takes the core from the thread being
// waited for, at every barrier: measured on 2 cores beside one busy process, evaluation kept 28% of its idle speed
// and training 49%. A short spin (GOMP_SPINCOUNT 10000, tens of microseconds) keeps the idle speed and gives 44% and
// 56% (docs/performance.md, bench/under_load.sh). libgomp reads the setting once, as the program loads, so lmcpp
// sets it and runs itself again, before any thread exists. A user's own OMP_WAIT_POLICY or GOMP_SPINCOUNT wins.
static void set_openmp_spin(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") || std::getenv("GOMP_SPINCOUNT")) return;
  setenv("GOMP_SPINCOUNT", "10000", 1);
  execv("/proc/self/exe", argv);  // returns only on failure: then libgomp's default stays, nothing else changes
  unsetenv("GOMP_SPINCOUNT");
}

int main(int argc, char** argv) {
  set_openmp_spin(argv);
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") {
    std::printf("%s\n", lm::cli::global_help().c_str());
    return argc < 2 ? 2 : 0;
  }
  if (std::string(argv[1]) == "--version") {
    std::printf("lmcpp %s\n", LM_VERSION);
    return 0;
  }
  std::string name = argv[1];
  for (auto& c : lm::cli::commands()) {
    if (c.name != name) continue;
    try {
      std::vector<std::string> rest(argv + 2, argv + argc);
      if (c.spec) {  // declared: --help and parsing come from the flag declarations
        if (lm::cli::help_requested(rest)) {
          std::printf("%s\n", lm::cli::command_help(c).c_str());
          return 0;
        }
        return c.run_flags(lm::cli::Flags::parse(*c.spec, rest));
      }
      lm::cli::Args args(name, std::move(rest));
      if (args.help_requested()) {
        std::printf("%s\n", lm::cli::command_help(c).c_str());
        return 0;
      }
      return c.run(args);
    } catch (const lm::Error& e) {
      std::fflush(stdout);
      std::fprintf(stderr, "lmcpp: error: %s\n", e.what());
      return e.is_input_error() ? 2 : 1;
    } catch (const std::bad_alloc&) {
      std::fprintf(stderr, "lmcpp: error: out of memory, in lmcpp %s\n", name.c_str());
      return 1;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "lmcpp: error: %s, in lmcpp %s\n", e.what(), name.c_str());
      return 1;
    }
  }
  std::vector<std::string> names;
  for (auto& c : lm::cli::commands()) names.push_back(c.name);
  std::fprintf(stderr, "lmcpp: error: unknown command '%s'%s, see lmcpp --help\n", name.c_str(),
               lm::did_you_mean(name, names).c_str());
  return 2;
}
