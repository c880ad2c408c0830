#include "drivers/client_settings.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <optional>
#include <utility>
#include <vector>

#include "drivers/driver.h"

namespace dec::drivers {
namespace {

// The value the user gave for `key` under its name or an alias, if any.
std::optional<std::string> configured_value(const ClientKey& key, const core::Settings& config) {
  if (auto it = config.find(key.name); it != config.end()) return it->second;
  for (const std::string& alias : key.aliases) {
    if (auto it = config.find(alias); it != config.end()) return it->second;
  }
  return std::nullopt;
}

// Whole milliseconds, rounded up so a short wait never becomes "send at once" (100us -> 1).
long long whole_milliseconds(std::chrono::nanoseconds duration) {
  return std::max<long long>(0, std::chrono::ceil<std::chrono::milliseconds>(duration).count());
}

std::optional<long long> requested_value(ClientField field, const core::ClientSettings& client) {
  switch (field) {
    case ClientField::kMaxInFlight:
      return client.max_in_flight;
    case ClientField::kLinger:
      if (client.linger) return whole_milliseconds(*client.linger);
      return std::nullopt;
    case ClientField::kFetchWait:
      if (client.fetch_wait) return whole_milliseconds(*client.fetch_wait);
      return std::nullopt;
  }
  return std::nullopt;
}

std::optional<std::string> default_value(const DriverInfo& driver, const std::string& key) {
  auto listed = std::find_if(driver.config_keys.begin(), driver.config_keys.end(),
                             [&](const ConfigKey& config_key) { return config_key.name == key; });
  if (listed != driver.config_keys.end()) return listed->default_value;
  if (driver.default_of) return driver.default_of(key);
  return std::nullopt;
}

}  // namespace

core::Settings apply_client_settings(const DriverInfo* driver, const core::ClientSettings& client,
                                     const core::Settings& config) {
  core::Settings merged = config;
  if (driver == nullptr) return merged;
  for (const ClientKey& key : driver->client_keys) {
    if (!key.mapped_from || configured_value(key, config)) continue;
    std::optional<long long> value = requested_value(*key.mapped_from, client);
    if (!value) continue;
    merged[key.name] = std::to_string(std::clamp(*value, key.min, key.max));
  }
  return merged;
}

core::Settings effective_client_settings(const DriverInfo* driver,
                                         const core::Settings& merged_config) {
  core::Settings effective;
  if (driver == nullptr) return effective;
  for (const ClientKey& key : driver->client_keys) {
    std::optional<std::string> value = configured_value(key, merged_config);
    if (!value) value = default_value(*driver, key.name);
    if (value) effective[key.name] = *value;
  }
  return effective;
}

}  // namespace dec::drivers
