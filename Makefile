# The two commands of the README, for a fresh Debian 12 machine:
#   make run    install what is missing, build (Release), start the demo in the foreground (Ctrl-C stops it)
#   make test   install what is missing, build, run every test: the Release suite through CTest, then the
#               suite under ASan + UBSan, the multi-threaded integration tests under TSan, and each fuzzer
#               for FUZZ_SECONDS (what CI runs; docs/security.md)
# Parts of it: make check (Release suite only), make test-asan, make test-tsan, make fuzz. Not in it: make soak.
BUILD_DIR  ?= build
BUILD_TYPE ?= Release
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
SUDO       := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Everything the build, the tests and the demo need, as Debian 12 packages.
APT_PACKAGES := build-essential cmake ninja-build ccache pkg-config git \
  libboost1.81-dev libhiredis-dev libyaml-cpp-dev libspdlog-dev libfmt-dev prometheus-cpp-dev \
  libssl-dev libgtest-dev redis-server curl procps python3 python3-jsonschema python3-yaml \
  prometheus prometheus-alertmanager docker-compose wrk nginx gnuplot-nox nodejs \
  clang libclang-rt-14-dev

ASAN_DIR     ?= build-asan
TSAN_DIR     ?= build-tsan
FUZZ_SECONDS ?= 60
# The integration tests that run the daemon's threads against each other (several workers, shared state,
# reloads, Redis reconnects, coalescing): the TSan job runs these. Not ProxyTest.Sig*: under TSan a SIGINT
# sent to an idle daemon (every thread in epoll_wait) is sometimes never handled (TSan defers handlers to the
# next intercepted call); the Release and ASan jobs run those, and the reload tests send SIGHUP under TSan.
TSAN_TESTS   ?= *CacheFlowTest.*:CacheRedisTest.*:AdminApiTest.*:*Fault*:Reload*:ProxyTest.Pipelined*
# Sanitizer builds: -O1 with line tables, assertions on.
SAN_FLAGS    := -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" -DORC_BUILD_TESTS=ON

.PHONY: deps configure build check test test-asan test-tsan fuzz soak run clean format

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

check: build
	cd $(BUILD_DIR) && ctest --output-on-failure --timeout 600

test: check test-asan test-tsan fuzz

# ASan + UBSan (clang, with libFuzzer instrumentation so the fuzzers share the build): the unit tests and the
# fuzz corpora through CTest in that build, then the Release integration suite against its daemon.
$(ASAN_DIR)/build.ninja: | deps
	CXX=clang++ cmake -S . -B $(ASAN_DIR) -G Ninja $(SAN_FLAGS) -DORC_SANITIZE=address,undefined -DORC_FUZZ=ON

test-asan: build $(ASAN_DIR)/build.ninja
	cmake --build $(ASAN_DIR) -j$(JOBS) --target openrisk-cache unit_tests \
	  fuzz_config fuzz_path_key fuzz_entry fuzz_jwt fuzz_request_head
	cd $(ASAN_DIR) && ctest --output-on-failure --timeout 600 -R '^(unit|fuzz)\.'
	ORC_TEST_DAEMON=$(abspath $(ASAN_DIR))/openrisk-cache $(BUILD_DIR)/tests/integration/integration_tests

# TSan (gcc): the daemon only; the Release integration binary drives it through the multi-threaded tests.
$(TSAN_DIR)/build.ninja: | deps
	cmake -S . -B $(TSAN_DIR) -G Ninja $(SAN_FLAGS) -DORC_SANITIZE=thread

test-tsan: build $(TSAN_DIR)/build.ninja
	cmake --build $(TSAN_DIR) -j$(JOBS) --target openrisk-cache
	ORC_TEST_DAEMON=$(abspath $(TSAN_DIR))/openrisk-cache \
	  $(BUILD_DIR)/tests/integration/integration_tests --gtest_filter='$(TSAN_TESTS)'

fuzz: test-asan
	FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run.sh $(ASAN_DIR)

# The soak (not part of make test): mixed load for DURATION seconds (default 600) while Redis and the backend
# are killed at random, against the ASan build (load_tests/README.md, "Soak").
soak: $(ASAN_DIR)/build.ninja
	cmake --build $(ASAN_DIR) -j$(JOBS) --target openrisk-cache openrisk-sim
	BUILD_DIR=$(ASAN_DIR) load_tests/soak

run: build
	BUILD_DIR=$(BUILD_DIR) deploy/demo/run.sh

format:
	git ls-files '*.cpp' '*.hpp' | xargs clang-format -i

clean:
	rm -rf $(BUILD_DIR) $(ASAN_DIR) $(TSAN_DIR)
