// The spec's common client settings (workload.client) in each driver's own terms, and the client
// settings a run actually used. At rate 0 a comparison measures how many messages each client
// keeps in flight as much as the product, so the runner maps one window onto every driver and
// stores each client's effective settings with its result.
//
// Each driver declares its mapping in its DriverInfo::client_keys (its package, src/systems/<x>/);
// docs/drivers.md tabulates them. Durations become whole milliseconds, rounded up; values are
// clamped to what the driver accepts.
#pragma once

#include <string>

#include "core/spec.h"
#include "drivers/driver.h"

namespace dec::drivers {

// `config` plus `client` mapped onto `driver`'s keys (table above). A key the user set in `config`
// (under any of its librdkafka names, e.g. queue.buffering.max.ms for linger.ms) is never
// overridden. An unknown driver (nullptr) gets `config` back unchanged.
core::Settings apply_client_settings(const DriverInfo* driver, const core::ClientSettings& client,
                                     const core::Settings& config);

// The client-relevant keys of `driver` (the mapped ones, plus e.g. kafka acks, redis read_mode)
// with the value in force: `merged_config`'s (the result of apply_client_settings) when set, else
// the driver's default (its DriverInfo default, or librdkafka's own for librdkafka properties).
// Keys are the drivers' canonical names. Empty for an unknown driver (nullptr).
core::Settings effective_client_settings(const DriverInfo* driver,
                                         const core::Settings& merged_config);

}  // namespace dec::drivers
