// Users of this machine that dec runs programs as: looking one up, and whether it can reach a
// path (every directory above it must let the user enter).
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

namespace dec::core {

// The unprivileged user brokers run as when dec runs as root (created by scripts/setup).
inline constexpr const char* kBrokerUser = "dec-broker";

struct HostUser {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
  std::string home;
};

std::optional<HostUser> find_host_user(const std::string& name);
// The name of the user this process runs as (its effective uid); "" if it has none.
std::string current_user_name();

// The first directory above `path` that `user` may not enter, or "" when it may enter them all.
std::string blocked_ancestor(const std::string& path, const HostUser& user);

}  // namespace dec::core
