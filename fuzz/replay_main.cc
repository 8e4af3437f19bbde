// Corpus replay driver: runs a fuzz target's LLVMFuzzerTestOneInput once on
// every file named on the command line, or on every regular file of every
// directory named there (sorted, not recursive). Linked instead of libFuzzer so
// the committed corpora replay in the ordinary g++ build (ctest
// fuzz_replay_<name>); a target's invariant failure aborts, which fails the
// test. Exit status 1 when an argument cannot be read or there was nothing to
// run.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "absl/status/statusor.h"
#include "service/common/file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
// Optional in a target, as in libFuzzer.
extern "C" __attribute__((weak)) int LLVMFuzzerInitialize(int* argc, char*** argv);

namespace {

bool RunFile(const std::filesystem::path& path) {
  // Corpus inputs are small (kilobytes); the bound only stops a wrong argument
  // (a device) from exhausting memory.
  absl::StatusOr<std::string> read = popguard::ReadFileToString(path, size_t{64} << 20);
  if (!read.ok()) {
    std::fprintf(stderr, "replay: %s\n", std::string(read.status().message()).c_str());
    return false;
  }
  const std::string& bytes = *read;
  // A copy in its own allocation, so ASan sees reads past the end of the input.
  std::vector<uint8_t> data(bytes.begin(), bytes.end());
  LLVMFuzzerTestOneInput(data.data(), data.size());
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (LLVMFuzzerInitialize != nullptr) LLVMFuzzerInitialize(&argc, &argv);
  size_t runs = 0;
  bool ok = true;
  for (int i = 1; i < argc; ++i) {
    const std::filesystem::path arg(argv[i]);
    std::error_code ec;
    if (!std::filesystem::is_directory(arg, ec)) {
      ok = RunFile(arg) && ok;
      ++runs;
      continue;
    }
    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::directory_iterator(arg, ec)) {
      if (entry.is_regular_file()) files.push_back(entry.path());
    }
    if (ec) {
      std::fprintf(stderr, "replay: cannot list %s\n", arg.c_str());
      ok = false;
    }
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      ok = RunFile(f) && ok;
      ++runs;
    }
  }
  std::printf("replay: %zu inputs\n", runs);
  return ok && runs > 0 ? 0 : 1;
}
