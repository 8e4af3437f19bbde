# popguard front door. `make run` and `make test` work on a fresh Debian 12
# machine: they install what is missing, build, then run or test.
BUILD_DIR ?= build
BUILD_TYPE ?= Release
JOBS ?= $(shell nproc)
CONFIG ?= examples/quickstart/popguard.yaml
# ccache, when installed, makes rebuilds of unchanged files free.
CCACHE := $(shell command -v ccache 2>/dev/null)
LAUNCHER := $(if $(CCACHE),-DCMAKE_CXX_COMPILER_LAUNCHER=$(CCACHE),)

# make fuzz: libFuzzer builds (clang) in their own dir, each run this long.
FUZZ_DIR ?= build-fuzz
FUZZ_SECONDS ?= 60
# make test-asan: the whole suite under AddressSanitizer + UBSan, own dir.
ASAN_DIR ?= build-asan
ASAN_OPTIONS ?= detect_leaks=1:abort_on_error=1:check_initialization_order=1:strict_init_order=1
UBSAN_OPTIONS ?= print_stacktrace=1:halt_on_error=1

.PHONY: all deps configure build run test chaos clean fuzz test-asan test-asan-core format

all: build

deps:
	@bash scripts/install-deps.sh

configure: deps
	@cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(LAUNCHER) >/dev/null

build: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS)

# `make run` builds only what it runs, quietly (the build log is shown only on
# failure), and installs deps and configures only when the build dir is new or
# scripts/install-deps.sh changed (cmake re-runs itself for CMakeLists.txt
# changes; `make configure` forces it, e.g. after changing BUILD_TYPE).
RUN_STAMP := $(BUILD_DIR)/.run-configured
RUN_TARGETS := popguard popguard-cli

$(RUN_STAMP): scripts/install-deps.sh
	@bash scripts/install-deps.sh
	@cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(LAUNCHER) >/dev/null
	@touch $@

run: $(RUN_STAMP)
	@cmake --build $(BUILD_DIR) -j $(JOBS) --target $(RUN_TARGETS) >$(BUILD_DIR)/run-build.log 2>&1 \
	  || { cat $(BUILD_DIR)/run-build.log; echo "make run: build failed"; exit 1; }
	./$(BUILD_DIR)/popguard --config $(CONFIG)

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure --no-tests=error -j $(JOBS) -LE chaos

# Rewrites every C++ file with clang-format (.clang-format); `make test` checks
# it (ctest format_check).
format:
	@bash scripts/check-format.sh --fix .

# The long chaos scenarios (tests labelled chaos), one at a time.
chaos: build
	cd $(BUILD_DIR) && ctest --output-on-failure --no-tests=error -L chaos

# Every fuzz target (fuzz/CMakeLists.txt) for FUZZ_SECONDS on its corpus;
# fails when one finds a crash or a broken invariant (see $(FUZZ_DIR)/artifacts).
fuzz: deps
	@bash scripts/install-deps.sh --clang
	@cmake -S . -B $(FUZZ_DIR) -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=clang++ \
	  -DPOPGUARD_FUZZ=ON -DPOPGUARD_BUILD_TESTS=OFF -DPOPGUARD_BUILD_BENCH=OFF $(LAUNCHER) >/dev/null
	@cmake --build $(FUZZ_DIR) -j $(JOBS) --target fuzzers
	@bash scripts/run-fuzzers.sh $(FUZZ_DIR) $(FUZZ_SECONDS)

test-asan: deps
	@cmake -S . -B $(ASAN_DIR) -DCMAKE_BUILD_TYPE=Release -DPOPGUARD_SANITIZE=ON $(LAUNCHER) >/dev/null
	@cmake --build $(ASAN_DIR) -j $(JOBS)
	cd $(ASAN_DIR) && ASAN_OPTIONS=$(ASAN_OPTIONS) UBSAN_OPTIONS=$(UBSAN_OPTIONS) \
	  ctest --output-on-failure --no-tests=error -j $(JOBS) -LE chaos

# make test-asan-core: the part of test-asan that .ci/run affords (see there): the
# same sanitizer build, but only the code that reads attacker bytes first and the
# crypto cores, i.e. every fuzz corpus replay and the unit tests of the parsers,
# the JOSE/crypto layer and the authentication path. No server, e2e, bench or
# script tests (those need the whole build and most of the time).
ASAN_CORE_TESTS := base64url_test json_test jws_test jwk_test url_test route_path_test \
  client_cert_test cert_thumbprint_cache_test config_test access_token_test dpop_test \
  nonce_test authenticator_test policy_test reason_test redis_protocol_test p256_test \
  ed25519_test signature_test signer_test wycheproof_test jws_wycheproof_test rfc_examples_test
# The fuzz targets as listed in fuzz/CMakeLists.txt; ctest runs them as fuzz_replay_<name>.
FUZZ_NAMES := $(shell sed -n 's/^  \([a-z0-9_]*_fuzzer\)$$/\1/p' fuzz/CMakeLists.txt)
empty :=
space := $(empty) $(empty)
ASAN_CORE_CTEST := $(ASAN_CORE_TESTS) p256_test_cpu $(FUZZ_NAMES:%=fuzz_replay_%)
ASAN_CORE_REGEX := ^($(subst $(space),|,$(strip $(ASAN_CORE_CTEST))))$$
test-asan-core: deps
	@cmake -S . -B $(ASAN_DIR) -DCMAKE_BUILD_TYPE=Release -DPOPGUARD_SANITIZE=ON $(LAUNCHER) >/dev/null
	@cmake --build $(ASAN_DIR) -j $(JOBS) --target $(ASAN_CORE_TESTS) $(FUZZ_NAMES:%=%_replay)
	cd $(ASAN_DIR) && ASAN_OPTIONS=$(ASAN_OPTIONS) UBSAN_OPTIONS=$(UBSAN_OPTIONS) \
	  ctest --output-on-failure --no-tests=error -j $(JOBS) -R '$(ASAN_CORE_REGEX)'

clean:
	rm -rf $(BUILD_DIR)

# The container image's root filesystem without a container runtime: the
# Dockerfile's runtime stage executed by scripts/image-rootfs.py (mmdebstrap;
# the first run downloads the Debian packages and takes minutes). Output in
# $(BUILD_DIR)/image: rootfs/, popguard-rootfs.tar, image-config.json.
# image-test runs the image's entrypoint in that rootfs (chroot, read-only
# root) and checks health, one ALLOW and one DENY.
.PHONY: image image-test
image: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS) --target popguard popguard-cli
	/usr/bin/python3 scripts/image-rootfs.py --source . --build-dir $(BUILD_DIR) --out $(BUILD_DIR)/image

image-test: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS) --target popguard popguard-cli
	bash tests/scripts/image_smoke_test.sh "$(CURDIR)" "$(CURDIR)/$(BUILD_DIR)"
