// RabbitMQ: rabbitmq-server from Debian, one private node (its own node name, ports, epmd, data,
// logs and config, all inside the node's dir); the driver through librabbitmq (AMQP 0-9-1).
#pragma once

#include <string>

#include "systems/system.h"

namespace dec::systems {

SystemPackage rabbitmq_package();

// The Erlang node name of the node whose data dir is `dir` ("rabbit-<hash>@localhost"): unique
// per node, and "localhost" resolves inside a network namespace too.
std::string rabbitmq_node_name(const std::string& dir);

}  // namespace dec::systems
