// Redis Streams: redis-server from Debian, the driver through hiredis.
#pragma once

#include "systems/system.h"

namespace dec::systems {

SystemPackage redis_package();

}  // namespace dec::systems
