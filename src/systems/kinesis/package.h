// Amazon Kinesis Data Streams: the driver speaks its HTTP API (SigV4); locally kinesalite, an
// emulator (EMULATED in every result).
#pragma once

#include "systems/system.h"

namespace dec::systems {

SystemPackage kinesis_package();

}  // namespace dec::systems
