// openrisk-cache: wiring only; everything else lives in the libraries under proxy/src.
#include <string>
#include <vector>

#include "app/cli.hpp"

int main(int argc, char** argv) {
  return orc::app::run_cli(std::vector<std::string>(argv + 1, argv + argc));
}
