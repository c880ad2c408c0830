// Amazon Kinesis Data Streams: the driver speaks its HTTP API (SigV4); locally kinesalite, an
// emulator (EMULATED in every result), behind `dec kinesis-quota` (quota_proxy.h), which holds
// every shard to AWS's throughput quotas unless deploy.server.quotas is off.
#pragma once

#include "systems/system.h"

namespace dec::systems {

SystemPackage kinesis_package();

}  // namespace dec::systems
