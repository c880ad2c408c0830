#include "core/host_user.h"

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <vector>

namespace dec::core {

std::optional<HostUser> find_host_user(const std::string& name) {
  struct passwd entry {};
  struct passwd* found = nullptr;
  std::vector<char> buffer(16384);
  if (getpwnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found) != 0 ||
      found == nullptr) {
    return std::nullopt;
  }
  return HostUser{name, found->pw_uid, found->pw_gid, found->pw_dir ? found->pw_dir : "/"};
}

std::string current_user_name() {
  struct passwd entry {};
  struct passwd* found = nullptr;
  std::vector<char> buffer(16384);
  if (getpwuid_r(geteuid(), &entry, buffer.data(), buffer.size(), &found) != 0 || !found) {
    return "";
  }
  return found->pw_name;
}

std::string blocked_ancestor(const std::string& path, const HostUser& user) {
  std::filesystem::path at = std::filesystem::path(path).lexically_normal();
  for (at = at.parent_path(); !at.empty(); at = at.parent_path()) {
    struct stat info {};
    if (::stat(at.c_str(), &info) == 0) {
      bool enters = user.uid == 0 || (info.st_mode & S_IXOTH) != 0 ||
                    (info.st_uid == user.uid && (info.st_mode & S_IXUSR) != 0) ||
                    (info.st_gid == user.gid && (info.st_mode & S_IXGRP) != 0);
      if (!enters) return at.string();
    }
    if (at == at.root_path()) break;
  }
  return "";
}

}  // namespace dec::core
