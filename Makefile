# The three commands: `make run`, `make test` and `make cluster`. Each
# installs what is missing (Debian packages), configures and builds; see
# README.md.
BUILD      ?= build/release
ASAN_BUILD ?= build/asan
TSAN_BUILD ?= build/tsan
LISTEN     ?= 127.0.0.1:8080
DATA_DIR   ?= ./ferry-data
JOBS       ?= $(shell nproc)
FUZZ_BUILD   ?= build/fuzz
FUZZ_CXX     ?= clang++-16
FUZZ_SECONDS ?= 60
FUZZ_JOBS    ?= 2
CLUSTER_DIR  ?= ./ferry-cluster
CLUSTER_PORT ?= 8080
NODES        ?= 3

.PHONY: run test test-tsan test-web web fuzz cluster cluster-down deps build build-asan clean

run: deps web
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(BUILD) -j $(JOBS) --target ferryd ferry
	$(BUILD)/apps/ferryd/ferryd --listen $(LISTEN) --data-dir $(DATA_DIR)

test: build build-asan
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	$(MAKE) --no-print-directory test-web
	cd $(ASAN_BUILD) && ctest --output-on-failure -j $(JOBS)
	$(MAKE) --no-print-directory test-tsan
	$(MAKE) --no-print-directory fuzz

# ThreadSanitizer (-O1 -g, Debug) over the tests where threads meet: the
# common, protocol, SQLite store, service and e2e suites, with every ferryd
# the e2e tests start on TSAN_IO_THREADS I/O threads. Only those targets are
# built (no benchmarks, cluster suite or fuzz replays), to stay cheap. The
# first report stops its process and fails the run; every report is kept in
# $(TSAN_BUILD)/tsan-logs and printed at the end. tests/tsan.supp holds the
# suppressions, each with its reason.
TSAN_IO_THREADS ?= 2
TSAN_TARGETS = ferryd ferry common_test protocol_test store_test service_test e2e_test
TSAN_LOGS = $(abspath $(TSAN_BUILD))/tsan-logs
TSAN_OPTIONS = halt_on_error=1 second_deadlock_stack=1 history_size=4 exitcode=66 \
  suppressions=$(CURDIR)/tests/tsan.supp log_path=$(TSAN_LOGS)/report
TSAN_CTEST = ctest --output-on-failure -j $(JOBS) --test-dir $(TSAN_BUILD)/tests

test-tsan: deps
	cmake -S . -B $(TSAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DFERRY_TSAN=ON
	cmake --build $(TSAN_BUILD) -j $(JOBS) --target $(TSAN_TARGETS)
	rm -rf $(TSAN_LOGS) && mkdir -p $(TSAN_LOGS)
	@export TSAN_OPTIONS="$(TSAN_OPTIONS)" FERRY_TEST_IO_THREADS=$(TSAN_IO_THREADS); \
	status=0; \
	$(TSAN_CTEST)/common || status=1; \
	$(TSAN_CTEST)/protocol -E _NOT_BUILT || status=1; \
	$(TSAN_CTEST)/store -R '^(Sqlite/|SqliteStore\.|ChatRules\.)' || status=1; \
	$(TSAN_CTEST)/service || status=1; \
	$(TSAN_CTEST)/e2e || status=1; \
	for f in $(TSAN_LOGS)/report.*; do \
	  [ -e "$$f" ] || continue; echo "=== $$f"; cat "$$f"; status=1; \
	done; \
	exit $$status

# The web client (web/): npm ci and npm run build, each only when stale.
web: deps
	scripts/web-build

# The web client's type check, unit tests (node --test) and browser tests
# (Playwright driving Debian's chromium, one ferryd per test; a few
# minutes). Screenshots of every screen land in $(BUILD)/web-screenshots.
WEB_WORKERS ?= 2
test-web: web
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(BUILD) -j $(JOBS) --target ferryd
	cd web && npm run --silent typecheck
	cd web && npm test
	cd web && FERRYD=$(abspath $(BUILD))/apps/ferryd/ferryd \
	  FERRY_SCREENSHOT_DIR=$(abspath $(BUILD))/web-screenshots \
	  npx --no-install playwright test --workers $(WEB_WORKERS)

# The libFuzzer fuzzers (tests/fuzz/): built with clang, ASan, UBSan and
# assertions (no NDEBUG), then each run for FUZZ_SECONDS over a copy of its
# seed corpus, FUZZ_JOBS at a time; crash inputs land in $(FUZZ_BUILD)/fuzz-run.
fuzz: deps
	cmake -S . -B $(FUZZ_BUILD) -G Ninja -DCMAKE_CXX_COMPILER=$(FUZZ_CXX) \
	  -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g"
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzzers
	tests/fuzz/run $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_JOBS)

# A whole cluster on loopback (Redis Cluster 3+3, PostgreSQL 15, $(NODES)
# ferryd nodes, HAProxy at 127.0.0.1:$(CLUSTER_PORT)); prints the client URL.
cluster: deps
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(BUILD) -j $(JOBS) --target ferryd ferry
	FERRYD=$(BUILD)/apps/ferryd/ferryd deploy/cluster up $(CLUSTER_DIR) --nodes $(NODES) --port $(CLUSTER_PORT)

cluster-down:
	deploy/cluster down $(CLUSTER_DIR)

deps:
	scripts/deps.sh

build: deps
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(BUILD) -j $(JOBS)

build-asan: deps
	cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DFERRY_SANITIZE=ON
	cmake --build $(ASAN_BUILD) -j $(JOBS)

clean:
	rm -rf build
