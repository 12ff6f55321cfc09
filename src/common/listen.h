// The --listen flag of the servers (ferryd and ferry-null): "HOST:PORT"
// into a Config. Pure; any thread.
#pragma once

#include <string_view>

#include "common/config.h"

namespace ferry {

// Sets listen_host and listen_port from "HOST:PORT" (port 0: any free port).
// Throws std::invalid_argument (or std::out_of_range) if `address` is not that.
void SetListenAddress(Config& config, std::string_view address);

}  // namespace ferry
