# The two commands: `make run` and `make test`. Both install what is missing
# (Debian packages), configure and build; see README.md.
BUILD      ?= build/release
ASAN_BUILD ?= build/asan
LISTEN     ?= 127.0.0.1:8080
DATA_DIR   ?= ./ferry-data
JOBS       ?= $(shell nproc)

.PHONY: run test deps build build-asan clean

run: deps
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(BUILD) -j $(JOBS) --target ferryd ferry
	$(BUILD)/apps/ferryd/ferryd --listen $(LISTEN) --data-dir $(DATA_DIR)

test: build build-asan
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	cd $(ASAN_BUILD) && ctest --output-on-failure -j $(JOBS)

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
