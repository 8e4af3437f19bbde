// Reading a running popguard's admin port (metrics.listen) in e2e tests:
// its port from the log and plain GETs (MetricValue is in popguard_process.h).
#ifndef POPGUARD_TESTS_TESTING_ADMIN_PORT_H_
#define POPGUARD_TESTS_TESTING_ADMIN_PORT_H_

#include <cstdint>
#include <optional>
#include <string>

#include "tests/testing/popguard_process.h"

namespace popguard::e2e {

// LoggedInt returns the integer member `key` of the first log line that
// contains `event`, or -1 (e.g. LoggedInt(p, "metrics_listening", "port")).
int64_t LoggedInt(const PopguardProcess& p, const std::string& event, const std::string& key);

// HttpGet makes one plain HTTP/1.1 GET to 127.0.0.1:port (2 s timeouts).
HttpReply HttpGet(int port, const std::string& path);

}  // namespace popguard::e2e

#endif  // POPGUARD_TESTS_TESTING_ADMIN_PORT_H_
