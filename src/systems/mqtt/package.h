// MQTT: Eclipse Mosquitto from Debian as the local broker, the driver through libmosquitto.
#pragma once

#include "systems/system.h"

namespace dec::systems {

SystemPackage mqtt_package();

}  // namespace dec::systems
