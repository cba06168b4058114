# The README's two commands, `make run` and `make test`, plus `make bench`.
# Each installs what is missing (scripts/install-deps) and builds incrementally (ccache).

BUILD      ?= build
TSAN_BUILD ?= build-tsan
JOBS       ?= $(shell nproc)
CMAKE_GEN  := -G Ninja

.PHONY: all deps build build-tsan run test bench format clean

all: build

deps:
	@scripts/install-deps

build: deps
	@cmake -S . -B $(BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

# Only the concurrency test is built under ThreadSanitizer.
build-tsan: deps
	@cmake -S . -B $(TSAN_BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DVECMESH_SANITIZE=thread -DVECMESH_BENCH=OFF >/dev/null
	@cmake --build $(TSAN_BUILD) -j $(JOBS) --target vecmesh_concurrency_test

# Until the daemon exists: an end-to-end demonstration of the engine.
run: build
	@$(BUILD)/bench/engine/vecmesh_engine_demo

test: build build-tsan
	@scripts/run-tests $(BUILD) $(TSAN_BUILD)

bench: build
	@$(BUILD)/bench/engine/vecmesh_engine_bench
	@$(BUILD)/bench/engine/vecmesh_durability_bench --dir $(BUILD)/bench-data

format:
	@clang-format -i $$(git ls-files '*.h' '*.cc')

clean:
	rm -rf $(BUILD) $(TSAN_BUILD)
