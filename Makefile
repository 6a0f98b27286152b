# moelab: build, test, benchmark and reproduce. See README.md.
#   make repro   install missing Debian packages (as root), build, run the main job
#   make test    build and run the Boost.Test suites
#   make bench   time the benchmark workloads against PyTorch float64 (../shared/BENCH.md)

CXX      ?= g++
BUILD    ?= build
# -std=c++20 (not gnu++20) keeps -ffp-contract=off: no silent FMA contraction, same bits everywhere.
# -fno-math-errno lets sqrt vectorise (it changes no value, only drops the errno side effect).
CXXFLAGS ?= -O3
CXXFLAGS += -std=c++20 -fopenmp -fno-math-errno -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wno-sign-conversion -I. -MMD -MP -DBOOST_TEST_DYN_LINK
LDLIBS   += -fopenmp -lopenblas -llapacke -lz
ifeq ($(SANITIZE),1)
CXXFLAGS += -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer
LDLIBS   += -fsanitize=address,undefined
BUILD    := build-sanitize
endif

LIB_SRC  := $(wildcard engine/*.cpp moe/*.cpp theory/*.cpp)
CLI_SRC  := $(filter-out experiments/bench_%.cpp,$(wildcard experiments/*.cpp))
BENCH_SRC:= $(wildcard experiments/bench_*.cpp)
TEST_SRC := $(wildcard tests/*.cpp)

LIB_OBJ  := $(LIB_SRC:%.cpp=$(BUILD)/obj/%.o)
CLI_OBJ  := $(CLI_SRC:%.cpp=$(BUILD)/obj/%.o)
BENCH_OBJ:= $(BENCH_SRC:%.cpp=$(BUILD)/obj/%.o)
TEST_OBJ := $(TEST_SRC:%.cpp=$(BUILD)/obj/%.o)

.PHONY: all deps test bench repro clean
all: $(BUILD)/moelab

deps:
	@sh .ci/deps

$(BUILD)/obj/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -c $< -o $@

$(BUILD)/libmoelab.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/moelab: $(CLI_OBJ) $(BUILD)/libmoelab.a
	$(CXX) $(CXXFLAGS) $^ -o $@ $(LDLIBS)

$(BUILD)/moelab_tests: $(TEST_OBJ) $(BUILD)/libmoelab.a
	$(CXX) $(CXXFLAGS) $^ -o $@ $(LDLIBS) -lboost_unit_test_framework

$(BUILD)/moelab_bench: $(BENCH_OBJ) $(BUILD)/libmoelab.a
	$(CXX) $(CXXFLAGS) $^ -o $@ $(LDLIBS)

# OpenBLAS runs single-threaded inside moelab (the engine also calls openblas_set_num_threads(1));
# parallelism comes from OpenMP over partitions fixed in advance, so results do not depend on threads.
export OPENBLAS_NUM_THREADS := 1

test: deps
	@$(MAKE) --no-print-directory $(BUILD)/moelab_tests $(BUILD)/moelab
	@sh tests/run_tests.sh $(BUILD)

bench: deps
	@$(MAKE) --no-print-directory $(BUILD)/moelab_bench
	@mkdir -p out
	@$(BUILD)/moelab_bench --out out/bench.json

PROFILE ?= quick
repro: deps
	@$(MAKE) --no-print-directory $(BUILD)/moelab
	@sh experiments/repro.sh $(BUILD) $(PROFILE)

clean:
	rm -rf build build-sanitize

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
