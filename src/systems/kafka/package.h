// Apache Kafka: the broker from the Apache Kafka jars (tools/kafka, resolved by scripts/setup),
// KRaft mode, one JVM per node; the driver through librdkafka. librdkafka's mock cluster is the
// variant `deploy.settings.kafka: mock` (fast tests, EMULATED).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "systems/system.h"

namespace dec::systems {

SystemPackage kafka_package();

// A KRaft cluster id (22 characters of base64url) derived from `seed`, so every node of a cluster
// (each formatted on its own) agrees on it without talking.
std::string kafka_cluster_id(const std::string& seed);
// The broker's JVM heap in MiB for a host with `memory_bytes` (half of it, at least 256 MiB;
// 512 MiB when the host has no limit).
uint64_t kafka_heap_mib(const std::optional<uint64_t>& memory_bytes);

}  // namespace dec::systems
