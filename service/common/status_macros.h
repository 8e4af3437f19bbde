// Status propagation shared by every file that returns absl::Status.
#ifndef POPGUARD_SERVICE_COMMON_STATUS_MACROS_H_
#define POPGUARD_SERVICE_COMMON_STATUS_MACROS_H_

#include "absl/status/status.h"

// POPGUARD_RETURN_IF_ERROR returns from the enclosing function with the status
// of `expr` when it is not OK. `expr` is evaluated exactly once.
#define POPGUARD_RETURN_IF_ERROR(expr)                   \
  do {                                                   \
    const absl::Status popguard_status_ = (expr);        \
    if (!popguard_status_.ok()) return popguard_status_; \
  } while (0)

#endif  // POPGUARD_SERVICE_COMMON_STATUS_MACROS_H_
