// The paths of this checkout and build (tests/support/CMakeLists.txt defines them for this file alone).
#include "support/paths.hpp"

namespace orc::test {

const std::string& source_dir() {
  static const std::string dir = ORC_SOURCE_DIR;
  return dir;
}

std::string source_file(std::string_view relative) {
  return source_dir() + "/" + std::string(relative);
}

const std::string& built_daemon_path() {
  static const std::string path = ORC_DAEMON_PATH;
  return path;
}

const std::string& sim_path() {
  static const std::string path = ORC_SIM_PATH;
  return path;
}

std::vector<std::string> sim_key_flags(const std::vector<std::string>& args) {
  for (std::size_t i = 0; i + 1 < args.size(); ++i)
    if (args[i] == "--jwt-mode" && args[i + 1] == "hs256") return {};
  return {"--jwt-private-key", source_file("tests/data/jwt/test-key-a.pem")};
}

}  // namespace orc::test
