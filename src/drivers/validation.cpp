// Validation of a driver's config keys, with field paths and did-you-mean. The drivers themselves
// are registered by their packages (systems/registry.cpp).
#include <algorithm>
#include <vector>

#include "drivers/driver.h"

namespace dec::drivers {
namespace {

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// The key `unknown` was most likely meant to be, or "" when none is close enough to suggest.
std::string closest_key(const std::string& unknown, const std::vector<ConfigKey>& keys) {
  std::string best;
  size_t best_distance = std::max<size_t>(2, unknown.size() / 3) + 1;
  for (const ConfigKey& key : keys) {
    size_t distance = edit_distance(unknown, key.name);
    if (distance < best_distance) {
      best_distance = distance;
      best = key.name;
    }
  }
  return best;
}

}  // namespace

std::vector<core::FieldError> validate_driver_config(const DriverInfo& driver,
                                                     const core::Settings& config,
                                                     const std::string& path_prefix) {
  std::vector<core::FieldError> errors;
  for (const auto& entry : config) {
    const std::string& name = entry.first;  // not a structured binding: the lambda captures it
    const std::string& value = entry.second;
    std::string path = path_prefix.empty() ? name : path_prefix + "." + name;
    auto key = std::find_if(driver.config_keys.begin(), driver.config_keys.end(),
                            [&](const ConfigKey& k) { return k.name == name; });
    if (key == driver.config_keys.end()) {
      if (driver.accepts_unknown_keys) {
        if (driver.check_unknown_key) {
          if (std::string m = driver.check_unknown_key(name, value); !m.empty()) {
            errors.push_back({path, m});
          }
        }
        continue;
      }
      std::string message = "unknown key \"" + name + "\"";
      if (std::string suggestion = closest_key(name, driver.config_keys); !suggestion.empty()) {
        message += " (did you mean \"" + suggestion + "\"?)";
      }
      message += "; valid keys: ";
      for (size_t i = 0; i < driver.config_keys.size(); ++i) {
        message += (i ? ", " : "") + driver.config_keys[i].name;
      }
      errors.push_back({path, message});
      continue;
    }
    if (!key->check) continue;
    if (std::string expected = key->check(value); !expected.empty()) {
      errors.push_back({path, "expected " + expected + ", got \"" + value + "\""});
    }
  }
  return errors;
}

core::DriverCatalog driver_catalog(const std::vector<DriverInfo>& drivers) {
  core::DriverCatalog catalog;
  for (const DriverInfo& driver : drivers) catalog.names.push_back(driver.name);
  // An unknown driver name is the spec parser's error to report (at `driver`), not this one's.
  catalog.validate_config = [&drivers](const std::string& driver, const core::Settings& config,
                                       const std::string& path_prefix) {
    for (const DriverInfo& info : drivers) {
      if (info.name == driver) return validate_driver_config(info, config, path_prefix);
    }
    return std::vector<core::FieldError>{};
  };
  return catalog;
}

}  // namespace dec::drivers
