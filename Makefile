# The README's first two commands live here: `make demo` and `make test` each install what is
# missing (scripts/install-deps.sh), configure, build, then run.
BUILD_DIR ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
TTAP := $(BUILD_DIR)/bin/ttap

.PHONY: all deps configure build test tsan test-asan fuzz demo demo-stats bench format clean

all: build

deps:
	@bash scripts/install-deps.sh

configure: deps
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)

build: configure
	cmake --build $(BUILD_DIR) -j $(JOBS)

# Every test: the ctest suite; the ThreadSanitizer run of the kernel tests; each fuzz harness over
# its corpus plus a few seconds of fresh inputs. The TSan and fuzz runs have build directories of
# their own. `make test-asan` (the whole suite under AddressSanitizer + UBSan) is not part of it
# yet: it has not had a clean run on the CI machine.
test: build
	ctest --test-dir $(BUILD_DIR) --output-on-failure -j $(JOBS)
	@bash scripts/run-tsan.sh
	@bash scripts/run-fuzz.sh

tsan: deps
	@bash scripts/run-tsan.sh

test-asan: deps
	@bash scripts/run-asan.sh

# Fuzzing for longer: FUZZ_SECONDS per harness (default 300).
FUZZ_SECONDS ?= 300
fuzz: deps
	@FUZZ_SECONDS=$(FUZZ_SECONDS) bash scripts/run-fuzz.sh

# The demo: a real character-level model trained under `ttap run` with a NaN planted in one
# gradient at step 200 (every step sampled: --budget 0), then the run's report.
demo: build
	@mkdir -p $(BUILD_DIR)/demo
	$(TTAP) run -o $(BUILD_DIR)/demo/run --force --budget 0 -- $(BUILD_DIR)/bin/ttap-demo --inject-nan 200:fc1.weight.grad
	$(TTAP) report $(BUILD_DIR)/demo/run
	@echo "more: $(TTAP) report $(BUILD_DIR)/demo/run --format html   (writes $(BUILD_DIR)/demo/run/report.html)"

# `ttap stats` on a sample checkpoint with planted problems.
demo-stats: build
	@mkdir -p $(BUILD_DIR)/demo
	$(BUILD_DIR)/bin/make_sample_checkpoint $(BUILD_DIR)/demo/sample.safetensors
	$(TTAP) stats $(BUILD_DIR)/demo/sample.safetensors

bench: build
	$(TTAP) bench

format:
	git ls-files '*.h' '*.cc' '*.cu' '*.cuh' | xargs clang-format -i

clean:
	rm -rf $(BUILD_DIR) build-tsan build-asan build-fuzz
