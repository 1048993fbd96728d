# The two commands of the README, for a fresh Debian 12 machine:
#   make run    install what is missing, build (Release), start the demo in the foreground (Ctrl-C stops it)
#   make test   install what is missing, build, run every test through CTest
BUILD_DIR  ?= build
BUILD_TYPE ?= Release
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
SUDO       := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Everything the build, the tests and the demo need, as Debian 12 packages.
APT_PACKAGES := build-essential cmake ninja-build ccache pkg-config git \
  libboost1.81-dev libhiredis-dev libyaml-cpp-dev libspdlog-dev libfmt-dev prometheus-cpp-dev \
  libssl-dev libgtest-dev redis-server curl procps python3 python3-jsonschema python3-yaml \
  prometheus prometheus-alertmanager docker-compose wrk nginx gnuplot-nox nodejs

.PHONY: deps configure build test run clean format

deps:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing:" $$missing; \
	  $(SUDO) apt-get update && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing; \
	fi

configure: deps
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)

build: configure
	cmake --build $(BUILD_DIR) -j$(JOBS)

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure --timeout 600

run: build
	BUILD_DIR=$(BUILD_DIR) deploy/demo/run.sh

format:
	git ls-files '*.cpp' '*.hpp' | xargs clang-format -i

clean:
	rm -rf $(BUILD_DIR)
