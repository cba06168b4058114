# The README's two commands, `make run` and `make test`, plus `make bench`.
# Each installs what is missing (scripts/install-deps) and builds incrementally (ccache).

BUILD      ?= build
TSAN_BUILD ?= build-tsan
FUZZ_BUILD ?= build-fuzz
JOBS       ?= $(shell nproc)
CMAKE_GEN  := -G Ninja

.PHONY: all deps build build-tsan build-fuzz run test bench bench-report mesh mesh-down format clean

all: build

deps:
	@scripts/install-deps

build: deps
	@cmake -S . -B $(BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

# Only the concurrency tests are built under ThreadSanitizer.
build-tsan: deps
	@cmake -S . -B $(TSAN_BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DVECMESH_SANITIZE=thread -DVECMESH_BENCH=OFF -DVECMESH_CUDA=OFF >/dev/null
	@cmake --build $(TSAN_BUILD) -j $(JOBS) --target vecmesh_concurrency_test

# vecmeshd on its embedded defaults: REST on 127.0.0.1:8000, gRPC on :50051, data in ./data.
# Ctrl-C stops it (it checkpoints first).
run: build
	@echo "vecmeshd: REST on http://127.0.0.1:8000, gRPC (vecmesh.v1.VectorStore, reflection on) on"
	@echo "127.0.0.1:50051, data in ./data (vecmeshd --help lists every option)."
	@echo "Try, from another terminal:"
	@echo "  curl -X PUT localhost:8000/v1/collections/docs -d '{\"dimension\": 3, \"index\": {\"type\": \"hnsw\"}}'"
	@echo "  curl -X PUT localhost:8000/v1/collections/docs/points -d '{\"points\": [{\"id\": 1, \"vector\": [1, 0, 0], \"payload\": {\"tag\": \"a\"}}]}'"
	@echo "  curl -X POST localhost:8000/v1/collections/docs/search -d '{\"vector\": [0.9, 0.1, 0], \"k\": 5}'"
	@echo "  curl localhost:8000/openapi.json; curl localhost:8000/metrics"
	@$(BUILD)/api/daemon/vecmeshd --host 127.0.0.1 --rest-port 8000 --grpc-port 50051 --data-dir ./data

# The mesh on one machine, without containers (scripts/mesh): the Consul double, RabbitMQ with
# deploy/rabbitmq, two Chroma servers, two vecmeshd replicas and Prometheus, on free loopback
# ports, state in .mesh/. It prints where each part listens and the API keys, and runs in the
# background (2 hours at most) until `make mesh-down`.
mesh: build
	@scripts/mesh up --vecmeshd $(BUILD)/api/daemon/vecmeshd

mesh-down:
	@scripts/mesh down

# The fuzz targets, with clang (libFuzzer, AddressSanitizer, UndefinedBehaviorSanitizer).
build-fuzz: deps
	@cmake -S . -B $(FUZZ_BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DCMAKE_CXX_COMPILER=clang++ -DVECMESH_FUZZ=ON -DVECMESH_TESTS=OFF -DVECMESH_BENCH=OFF \
	  -DVECMESH_CUDA=OFF >/dev/null
	@cmake --build $(FUZZ_BUILD) -j $(JOBS) --target vecmesh_fuzzers

test: build build-tsan build-fuzz
	@scripts/run-tests $(BUILD) $(TSAN_BUILD) $(FUZZ_BUILD)

bench: build
	@$(BUILD)/bench/engine/vecmesh_engine_bench
	@$(BUILD)/bench/engine/vecmesh_durability_bench --dir $(BUILD)/bench-data
	@$(BUILD)/bench/api/vecmesh_api_bench
	@$(BUILD)/bench/engine/vecmesh_cpu_flat_bench
	@scripts/bench-remote $(BUILD) chroma --points 100000 --queries 300
	@scripts/bench-remote $(BUILD) qdrant --points 20000 --queries 300
	@/usr/bin/python3 bench/jobs/jobs_bench.py --daemon $(BUILD)/api/daemon/vecmeshd

# The benchmarks on one data set in one run, as plots and a summary: bench/report/ (about 3
# minutes on 2 cores; bench/report/make_report.py says what runs).
bench-report: build
	@/usr/bin/python3 bench/report/make_report.py $(BUILD)

format:
	@clang-format -i $$(git ls-files '*.h' '*.cc' ':!tests/fixtures')

clean:
	rm -rf $(BUILD) $(TSAN_BUILD) $(FUZZ_BUILD)
