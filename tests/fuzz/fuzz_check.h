#pragma once

// A failed property in a fuzz target: print what failed and where, then
// abort, so that libFuzzer saves the input as a crash.

#include <cstdio>
#include <cstdlib>
#include <string>

#define FUZZ_CHECK_MSG(condition, message)                                                 \
  do {                                                                                     \
    if (!(condition)) {                                                                    \
      std::fprintf(stderr, "%s:%d: check failed: %s %s\n", __FILE__, __LINE__, #condition, \
                   std::string(message).c_str());                                          \
      std::abort();                                                                        \
    }                                                                                      \
  } while (false)

#define FUZZ_CHECK(condition) FUZZ_CHECK_MSG(condition, "")

// For a target's own checking code: its branches are not the code under
// test, so they neither steer libFuzzer's coverage nor pay for its
// comparison tracing (which otherwise dominates a target that checks much).
#define FUZZ_UNTRACED __attribute__((no_sanitize("coverage")))
