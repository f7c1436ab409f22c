# Thin wrapper over CMake for the common targets.
#   make            build (Release) into build/
#   make test       install deps, build, run the whole suite (ctest)
#   make golden     run the golden reference checks (GOLDEN=<dir>, default tests/data/golden)
#   make asan       build and run the suite under AddressSanitizer + UBSan (build-asan/)
#   make fuzz       build the libFuzzer targets with clang (build-fuzz/) and run each briefly
#   make bench      build the benchmarks
#   make demo       install deps, build, generate out.mp4 with the embedded trained demo model
#   make check      what CI runs: test, then the suite under ASan+UBSan, then a short fuzz run
GOLDEN ?= $(abspath tests/data/golden)
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps build test golden asan fuzz bench clean demo check

all: build

deps:
	./scripts/install-deps.sh

build:
	@cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DVG_GOLDEN_DIR=$(GOLDEN) $(CMAKE_FLAGS) >/dev/null
	@cmake --build build -j $(JOBS)

test: deps build
	cd build && ctest --output-on-failure -j $(JOBS)

golden: build
	./build/vgen-golden $(GOLDEN)

asan: deps
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DVG_SANITIZE=ON -DVG_GOLDEN_DIR=$(GOLDEN) >/dev/null
	@cmake --build build-asan -j $(JOBS)
	cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure -j $(JOBS)

fuzz: deps
	@CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DVG_FUZZ=ON -DVG_GOLDEN_DIR=$(GOLDEN) >/dev/null
	@cmake --build build-fuzz -j $(JOBS) --target fuzz_targets
	./scripts/run-fuzz.sh build-fuzz $(FUZZ_SECONDS)

bench: build

DEMO_PROMPT ?= a red circle moving right on a blue background
DEMO_SEED ?= 42
# the demo model is tiny: one thread is fastest (two OpenMP threads of tiny ops wait at
# barriers, badly so on a busy machine; docs/performance.md)
demo: deps build
	OMP_NUM_THREADS=1 ./build/vgen generate --model models/demo-wan --prompt "$(DEMO_PROMPT)" \
	    --height 64 --width 64 --num-frames 17 --steps 20 --seed $(DEMO_SEED) --output out.mp4

FUZZ_SECONDS ?= 20
check: test asan
	$(MAKE) fuzz FUZZ_SECONDS=$(FUZZ_SECONDS)

clean:
	rm -rf build build-asan build-fuzz
