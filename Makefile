# The two commands of the README, for a fresh Debian 12 machine:
#   make run    install what is missing, build (Release), start the demo in the foreground (Ctrl-C stops it)
#   make test   install what is missing, build, run every test (what CI runs; README "Build times"):
#               one ASan + UBSan build of everything (clang -O0 -g1, libFuzzer-instrumented) runs every CTest
#               test in parallel (unit, integration, simulator, schema, deploy, load smoke, fuzz corpora); a
#               TSan build of the daemon alone (gcc) is driven by the multi-threaded integration tests; then
#               each fuzzer runs for TEST_FUZZ_SECONDS.
# Parts of it: make test-asan, make test-tsan, make fuzz-short. Not in it: make check (the Release suite), make
# fuzz (each fuzzer for FUZZ_SECONDS, 60), make soak, make bench.
BUILD_DIR  ?= build
BUILD_TYPE ?= Release
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
SUDO       := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# ccache (when installed; CMakeLists.txt uses it): paths under the checkout are hashed relative to it and the
# build directory is not hashed, so every clone of the repository shares one cache (~/.cache/ccache).
export CCACHE_BASEDIR   := $(CURDIR)
export CCACHE_NOHASHDIR := true

# Everything the build, the tests and the demo need, as Debian 12 packages.
APT_PACKAGES := build-essential cmake ninja-build ccache pkg-config git \
  libboost1.81-dev libhiredis-dev libyaml-cpp-dev libspdlog-dev libfmt-dev prometheus-cpp-dev \
  libjemalloc-dev libssl-dev libgtest-dev redis-server curl procps python3 python3-jsonschema python3-yaml \
  prometheus prometheus-alertmanager docker-compose wrk nginx gnuplot-nox nodejs \
  clang libclang-rt-14-dev go-md2man man-db

ASAN_DIR          ?= build-asan
TSAN_DIR          ?= build-tsan
FUZZ_SECONDS      ?= 60
TEST_FUZZ_SECONDS ?= 10
# The integration tests that run the daemon's threads against each other (several workers, shared state,
# reloads, Redis reconnects, coalescing): the TSan job runs these. Not ProxyTest.Sig*: under TSan a SIGINT
# sent to an idle daemon (every thread in epoll_wait) is sometimes never handled (TSan defers handlers to the
# next intercepted call); the ASan job runs those, and the reload tests send SIGHUP under TSan.
# FdLimitTest runs here rather than in the ASan job: out of descriptors, UBSan's own vptr check cannot work.
TSAN_TESTS   ?= *CacheFlowTest.*:CacheRedisTest.*:CacheSentinelTest.*:CacheClusterTest.*:AdminApiTest.*:*Fault*:Reload*:ProxyTest.Pipelined*:FdLimitTest.*
# The ASan + UBSan build: -O0 with line tables. At -O1 the sanitizers' instrumentation makes the optimiser
# the most expensive step of the build (http/forward.cpp, now relay.cpp: 94 s at -O1, 27 s at -O0) while the suite runs as fast.
ASAN_FLAGS   := -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O0 -g1" \
                -DORC_SANITIZE=address,undefined -DORC_FUZZ=ON
# The TSan build: gcc (the compiler of the Release build), -O1 with line tables.
TSAN_FLAGS   := -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" \
                -DORC_SANITIZE=thread -DORC_BUILD_TESTS=OFF

.PHONY: deps configure build check test test-asan test-tsan fuzz fuzz-short soak bench run clean format

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

# The whole CTest suite on the Release build (no sanitizer, no fuzz targets). Not part of make test.
check: build
	cd $(BUILD_DIR) && ctest -j$(JOBS) --output-on-failure --timeout 600

test: test-asan test-tsan fuzz-short

# ASan + UBSan (clang, with libFuzzer instrumentation so the fuzzers share the build): everything is built once
# and CTest runs every test in it, JOBS at a time.
$(ASAN_DIR)/build.ninja: | deps
	CXX=clang++ cmake -S . -B $(ASAN_DIR) -G Ninja $(ASAN_FLAGS)

test-asan: $(ASAN_DIR)/build.ninja
	cmake --build $(ASAN_DIR) -j$(JOBS)
	cd $(ASAN_DIR) && ctest -j$(JOBS) --output-on-failure --timeout 600

# TSan (gcc): the daemon only; the ASan build's integration_tests drives it through the multi-threaded tests.
$(TSAN_DIR)/build.ninja: | deps
	CXX=g++ cmake -S . -B $(TSAN_DIR) -G Ninja $(TSAN_FLAGS)

test-tsan: $(ASAN_DIR)/build.ninja $(TSAN_DIR)/build.ninja
	cmake --build $(ASAN_DIR) -j$(JOBS) --target integration_tests
	cmake --build $(TSAN_DIR) -j$(JOBS) --target openrisk-cache
	ORC_TEST_DAEMON=$(abspath $(TSAN_DIR))/openrisk-cache JOBS=$(JOBS) \
	  tests/run_shards.sh $(ASAN_DIR)/tests/integration/integration_tests --gtest_filter='$(TSAN_TESTS)'

# The fuzzers, from the corpora of tests/fuzz: TEST_FUZZ_SECONDS each in make test, FUZZ_SECONDS in make fuzz.
fuzz-short: $(ASAN_DIR)/build.ninja
	cmake --build $(ASAN_DIR) -j$(JOBS) --target fuzz_config fuzz_path_key fuzz_entry fuzz_jwt fuzz_request_head
	FUZZ_SECONDS=$(TEST_FUZZ_SECONDS) tests/fuzz/run.sh $(ASAN_DIR)

fuzz: $(ASAN_DIR)/build.ninja
	cmake --build $(ASAN_DIR) -j$(JOBS) --target fuzz_config fuzz_path_key fuzz_entry fuzz_jwt fuzz_request_head
	FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run.sh $(ASAN_DIR)

# The soak (not part of make test): mixed load for DURATION seconds (default 600) while Redis and the backend
# are killed at random, against the ASan build (load_tests/README.md, "Soak").
soak: $(ASAN_DIR)/build.ninja
	cmake --build $(ASAN_DIR) -j$(JOBS) --target openrisk-cache openrisk-sim
	BUILD_DIR=$(ASAN_DIR) load_tests/soak

# The benchmark (load_tests/README.md): the Release build against the direct backend and nginx.
bench: build
	BUILD_DIR=$(BUILD_DIR) load_tests/bench

run: build
	BUILD_DIR=$(BUILD_DIR) deploy/demo/run.sh

format:
	git ls-files '*.cpp' '*.hpp' | xargs clang-format -i

clean:
	rm -rf $(BUILD_DIR) $(ASAN_DIR) $(TSAN_DIR)
