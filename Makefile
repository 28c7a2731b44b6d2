# Thin wrapper over CMake presets. `make run` and `make test` set up a fresh
# Debian machine (scripts/setup-deps) before building.
JOBS ?= $(shell nproc)
CTEST_ARGS ?=

.PHONY: all deps build run test asan tsan chaos bench results clean

all: build

deps:
	@scripts/setup-deps

build: deps
	cmake --preset default >/dev/null
	cmake --build --preset default -j $(JOBS)

# The main demo: the machine and its binding plan, pi by the midpoint rule in
# every mode (serial, OpenMP, process pool, thread pool, hybrid) with speedups
# measured in the same run, the seed's square map in input order, and (when
# built with MPI) the same pi over 2 MPI ranks, one pool per rank.
run: build
	./build/default/apps/mpk-topo/mpk-topo --workers $(JOBS)
	./build/default/apps/mpk-pi/mpk-pi --mode all --steps 2e8 --repeat 3
	./build/default/apps/mpk-square/mpk-square 2 4 6 8 3 5 7 9
	@if ./build/default/bench/scaling/mpk-scale --help 2>/dev/null | \
	    grep -q '^This build: MPI points available'; then \
	  echo "scripts/mpirun-local -np 2 mpk-pi --mode mpi --steps 2e8 --repeat 3"; \
	  scripts/mpirun-local -np 2 ./build/default/apps/mpk-pi/mpk-pi --mode mpi \
	    --steps 2e8 --repeat 3; \
	fi

test: build
	ctest --preset default -j $(JOBS) $(CTEST_ARGS)

asan: deps
	cmake --preset asan >/dev/null
	cmake --build --preset asan -j $(JOBS)
	ctest --preset asan -j $(JOBS) -LE 'bench-smoke|mpi|cluster' $(CTEST_ARGS)

tsan: deps
	cmake --preset tsan >/dev/null
	cmake --build --preset tsan -j $(JOBS)
	ctest --preset tsan -j $(JOBS) -L tsan $(CTEST_ARGS)

# A long chaos campaign (tests/chaos/): N seeded iterations from SEED (default:
# from the clock), optionally only SCENARIO (a comma-separated list; NAME*
# matches a prefix). Prints the per-scenario summary; CHAOS_ARGS adds options
# (--json, --verbose, --timeout S).
N ?= 300
SEED ?=
SCENARIO ?=
CHAOS_ARGS ?=
chaos: build
	./build/default/tests/mpk-chaos --iterations $(N) \
	  $(if $(SEED),--seed $(SEED)) $(if $(SCENARIO),--scenario '$(SCENARIO)') \
	  $(CHAOS_ARGS)

BENCH_FILTER ?= .
bench: build
	./build/default/bench/micro/mpk-bench-micro --benchmark_filter='$(BENCH_FILTER)' \
	  --benchmark_repetitions=5 --benchmark_report_aggregates_only=true \
	  --benchmark_out=build/bench-micro.json --benchmark_out_format=json
	bench/micro/ratios build/bench-micro.json | tee build/bench-micro-ratios.md

results: build
	scripts/make-results

clean:
	rm -rf build
