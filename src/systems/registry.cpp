// Every system dec knows, registered once. Adding a system: one folder under src/systems/ and one
// line below (docs/drivers.md, "Adding a system").
#include "systems/registry.h"

#include "systems/kafka/package.h"
#include "systems/kinesis/package.h"
#include "systems/mqtt/package.h"
#include "systems/nats/package.h"
#include "systems/rabbitmq/package.h"
#include "systems/redis/package.h"

namespace dec::systems {

const std::vector<SystemPackage>& all_systems() {
  static const std::vector<SystemPackage> systems = {
      redis_package(), kafka_package(),    kinesis_package(),
      nats_package(),  rabbitmq_package(), mqtt_package(),
  };
  return systems;
}

const SystemPackage* find_system(const std::string& driver) {
  for (const SystemPackage& system : all_systems()) {
    if (system.driver.name == driver) return &system;
  }
  return nullptr;
}

const std::vector<drivers::DriverInfo>& all_drivers() {
  static const std::vector<drivers::DriverInfo> drivers = [] {
    std::vector<drivers::DriverInfo> out;
    for (const SystemPackage& system : all_systems()) out.push_back(system.driver);
    return out;
  }();
  return drivers;
}

const drivers::DriverInfo* find_driver(const std::string& name) {
  const SystemPackage* system = find_system(name);
  return system == nullptr ? nullptr : &system->driver;
}

core::DriverCatalog driver_catalog() { return drivers::driver_catalog(all_drivers()); }

}  // namespace dec::systems
