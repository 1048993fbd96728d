// Where the tests find the source tree and the programs under test. The paths are compiled into paths.cpp
// alone, so that no other translation unit's cache key holds a path of this checkout and ccache serves every
// clone from one cache (README, "Build times").
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace orc::test {

// The repository's root directory.
const std::string& source_dir();
// `relative` (e.g. "config/openrisk.yaml") under the repository's root.
std::string source_file(std::string_view relative);
// The openrisk-cache and openrisk-sim executables of this build.
const std::string& built_daemon_path();
const std::string& sim_path();
// The flags that give a test simulator started with `args` its fixed RS256 signing key
// (tests/data/jwt/test-key-a.pem, no key generation at start): none when `args` choose HS256.
std::vector<std::string> sim_key_flags(const std::vector<std::string>& args);

}  // namespace orc::test
