// The systems compiled into dec, each registered once (registry.cpp), and what the rest of dec
// asks of them: drivers by name, the spec parser's catalog, local launch recipes.
#pragma once

#include <string>
#include <vector>

#include "core/spec.h"
#include "core/spec_parser.h"
#include "drivers/driver.h"
#include "systems/system.h"

namespace dec::systems {

const std::vector<SystemPackage>& all_systems();
const SystemPackage* find_system(const std::string& driver);

// Every driver compiled in, in registration order.
const std::vector<drivers::DriverInfo>& all_drivers();
const drivers::DriverInfo* find_driver(const std::string& name);
// The catalog the spec parser uses to validate `driver` and `config` fields.
core::DriverCatalog driver_catalog();

}  // namespace dec::systems
