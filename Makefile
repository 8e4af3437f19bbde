# popguard front door. `make run` and `make test` work on a fresh Debian 12
# machine: they install what is missing, build, then run or test.
BUILD_DIR ?= build
BUILD_TYPE ?= Release
JOBS ?= $(shell nproc)
CONFIG ?= examples/quickstart/popguard.yaml
# ccache, when installed, makes rebuilds of unchanged files free.
CCACHE := $(shell command -v ccache 2>/dev/null)
LAUNCHER := $(if $(CCACHE),-DCMAKE_CXX_COMPILER_LAUNCHER=$(CCACHE),)

.PHONY: all deps configure build run test chaos clean

all: build

deps:
	@bash scripts/install-deps.sh

configure: deps
	@cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(LAUNCHER) >/dev/null

build: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS)

run: build
	./$(BUILD_DIR)/popguard --config $(CONFIG)

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure --no-tests=error -j $(JOBS) -LE chaos

# The long chaos scenarios (tests labelled chaos), one at a time.
chaos: build
	cd $(BUILD_DIR) && ctest --output-on-failure --no-tests=error -L chaos

clean:
	rm -rf $(BUILD_DIR)
