// Fuzzes the config and rulebook loader (config/config_loader, config/rules_loader, rules/rulebook): any
// bytes as the YAML file. Loading never crashes; it either yields a config that compiles to a rulebook or
// reports errors, and every error it reports names the file.
#include "config/config_loader.hpp"
#include "fuzz_check.hpp"
#include "rules/rulebook.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto loaded = orc::config::load_config_string(orc::fuzz::as_text(data, size), "fuzz.yaml");
  ORC_FUZZ_CHECK(loaded.config.has_value() == loaded.errors.empty());
  for (const auto& e : loaded.errors) {
    ORC_FUZZ_CHECK(!e.file.empty());
    ORC_FUZZ_CHECK(e.line >= 0 && e.column >= 0);
    ORC_FUZZ_CHECK(!e.message.empty());
  }
  if (!loaded.config) return 0;
  auto compiled = orc::rules::Rulebook::compile(*loaded.config);
  ORC_FUZZ_CHECK((compiled.rulebook != nullptr) == compiled.errors.empty());
  return 0;
}
