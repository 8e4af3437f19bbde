// Shared by the fuzz targets: invariant checks that abort with a message (so
// libFuzzer saves the input as a crash and the corpus replay test fails), and
// the input as a string_view.
#ifndef POPGUARD_FUZZ_FUZZ_CHECK_H_
#define POPGUARD_FUZZ_FUZZ_CHECK_H_

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

// FUZZ_CHECK(cond, what) aborts with "<file>:<line>: <what>" unless cond holds.
// Messages name the broken invariant, never the input (a crash file has it).
#define FUZZ_CHECK(cond, what)                                                         \
  do {                                                                                 \
    if (!(cond)) {                                                                     \
      std::fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, what); \
      std::abort();                                                                    \
    }                                                                                  \
  } while (0)

namespace popguard::fuzz {

inline std::string_view AsView(const uint8_t* data, size_t size) {
  return std::string_view(reinterpret_cast<const char*>(data), size);
}

// SplitThree splits `in` at its first two `sep` bytes into three parts (the
// last may hold more `sep` bytes); false when there are fewer than two.
inline bool SplitThree(std::string_view in, char sep, std::string_view* a, std::string_view* b,
                       std::string_view* c) {
  const size_t first = in.find(sep);
  if (first == std::string_view::npos) return false;
  const size_t second = in.find(sep, first + 1);
  if (second == std::string_view::npos) return false;
  *a = in.substr(0, first);
  *b = in.substr(first + 1, second - first - 1);
  *c = in.substr(second + 1);
  return true;
}

}  // namespace popguard::fuzz

#endif  // POPGUARD_FUZZ_FUZZ_CHECK_H_
