// The spec's common client settings (workload.client) in each driver's own terms, and the client
// settings a run actually used. At rate 0 a comparison measures how many messages each client
// keeps in flight as much as the product, so the runner maps one window onto every driver and
// stores each client's effective settings with its result.
//
//   driver   max_in_flight                 linger      fetch_wait
//   redis    pipeline (at most 10000)      -           block_ms (at least 1)
//   kafka    queue.buffering.max.messages  linger.ms   fetch.wait.max.ms
//   kinesis  batch_size (at most 500)      linger_ms   poll_interval_ms (at least 1)
//
// Durations become whole milliseconds, rounded up; values are clamped to what the driver accepts.
// Caveat: the Redis driver's pipeline is a window per node, so with N nodes a Redis producer may
// keep up to N × max_in_flight messages in flight (the others' windows are per producer).
#pragma once

#include <string>

#include "core/spec.h"

namespace dec::drivers {

// `config` plus `client` mapped onto `driver`'s keys (table above). A key the user set in `config`
// (under any of its librdkafka names, e.g. queue.buffering.max.ms for linger.ms) is never
// overridden. An unknown driver gets `config` back unchanged.
core::Settings apply_client_settings(const std::string& driver, const core::ClientSettings& client,
                                     const core::Settings& config);

// The client-relevant keys of `driver` (the mapped ones, plus e.g. kafka acks, redis read_mode)
// with the value in force: `merged_config`'s (the result of apply_client_settings) when set, else
// the driver's default (its DriverInfo default, or librdkafka's own for librdkafka properties).
// Keys are the drivers' canonical names. Empty for an unknown driver.
core::Settings effective_client_settings(const std::string& driver,
                                         const core::Settings& merged_config);

}  // namespace dec::drivers
