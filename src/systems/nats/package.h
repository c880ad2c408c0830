// NATS JetStream: nats-server from Debian, the driver through libnats.
#pragma once

#include <string>

#include "systems/system.h"

namespace dec::systems {

SystemPackage nats_package();

// What the results call an installed nats-server from its `--version` output
// ("nats-server: v2.9.10" -> "NATS JetStream 2.9.10"); "" when the output says no version.
std::string nats_label_from_version(const std::string& version_output);

}  // namespace dec::systems
