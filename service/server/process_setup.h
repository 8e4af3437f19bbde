// ConfigureProcessForServing: process-wide settings for the server binary
// (and the benchmarks that measure its request path).
#ifndef POPGUARD_SERVICE_PROCESS_SETUP_H_
#define POPGUARD_SERVICE_PROCESS_SETUP_H_

namespace popguard {

// Turns off Abseil's mutex deadlock detection. Debian's Abseil is built with
// it on: every absl::Mutex acquisition then updates a global lock-order graph
// (GraphCycles) under a global lock, which measured ~5 % of the server's CPU
// under load (perf, bench/README.md). It is a debugging aid; the tests keep
// it on (they never call this).
void ConfigureProcessForServing();

}  // namespace popguard

#endif  // POPGUARD_SERVICE_PROCESS_SETUP_H_
