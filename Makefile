# moelab: build, test, benchmark and reproduce. See README.md.
#   make repro   install missing Debian packages (as root), build, run the main job
#   make test    build and run the Boost.Test suites
#   make bench   time the benchmark workloads against PyTorch float64 (docs/performance.md);
#                make bench W=W6,W7 times only those (BENCH_FLAGS="--w7-images 5" passes flags on)

CXX      ?= g++
BUILD    ?= build
# Plain `make` builds everything (the MPI rules below would otherwise be the first target).
.DEFAULT_GOAL := all
# -ffp-contract=off: no silent FMA contraction, same bits everywhere. GCC contracts a*b+c by default
# as soon as the target has FMA (CXXFLAGS=-march=native), in ISO mode too; engine/float_semantics.hpp
# checks it at run time.
# -fno-math-errno lets sqrt vectorise (it changes no value, only drops the errno side effect).
CXXFLAGS ?= -O3
CXXFLAGS += -std=c++20 -ffp-contract=off -fopenmp -fno-math-errno -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wno-sign-conversion -I. -MMD -MP -DBOOST_TEST_DYN_LINK
# CBC (coinor-libcbc-dev): the second MILP back-end (theory/exact/milp_cbc.cpp); `pkg-config --libs cbc` names these.
LDLIBS   += -fopenmp -lopenblas -llapacke -lz -lglpk -lgmpxx -lgmp -lCbcSolver -lCbc -lCgl -lOsiClp -lClp -lOsi -lCoinUtils
ifeq ($(SANITIZE),1)
# -g1: line tables for the reports at a third less compile time than -g; UB aborts (no silent recovery).
CXXFLAGS += -O1 -g1 -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
LDLIBS   += -fsanitize=address,undefined
BUILD    := build-sanitize
endif

# Compile time (most of CI's time): the commands (experiments/) only parse flags and files, write
# results and call the library, where all the work runs, and the tests need no -O3 either. So both
# compile at -O1 (a quarter to a third less time), and in the sanitized build the commands at -O0 (half).
# The sanitized tests stay at -O1: their brute-force reference searches ran twice as long at -O0.
ifeq ($(SANITIZE),1)
$(BUILD)/obj/experiments/%.o: CXXFLAGS += -O0
else
$(BUILD)/obj/tests/%.o $(BUILD)/obj/experiments/%.o: CXXFLAGS += -O1
endif

# MPI (optional): found through mpicxx, used by experiments/cluster/mpi_session.cpp alone (and linked into moelab).
# Without it `moelab sweep` runs serially and `train --parallel data` runs as one process.
#   make MPICXX= BUILD=build-nompi    a build without MPI where it is installed
MPICXX   ?= $(shell command -v mpicxx 2>/dev/null)
ifneq ($(strip $(MPICXX)),)
MPI_CXXFLAGS := $(shell $(MPICXX) --showme:compile) -DMOELAB_HAVE_MPI
MPI_LDLIBS   := $(shell $(MPICXX) --showme:link)
endif
# Rebuild mpi_session.o when the MPI flags change (MPICXX= on a build made with MPI, or the reverse).
MPI_STAMP := $(BUILD)/mpi.flags
ifeq ($(filter clean,$(MAKECMDGOALS)),)
$(shell mkdir -p $(BUILD) && (echo '$(MPI_CXXFLAGS)' | cmp -s - $(MPI_STAMP) || echo '$(MPI_CXXFLAGS)' > $(MPI_STAMP)))
endif
$(BUILD)/obj/experiments/cluster/mpi_session.o: CXXFLAGS += $(MPI_CXXFLAGS)
$(BUILD)/obj/experiments/cluster/mpi_session.o: $(MPI_STAMP)

LIB_SRC  := $(wildcard engine/*.cpp moe/*.cpp theory/*/*.cpp)
CLI_SRC  := $(wildcard $(addsuffix /*.cpp,$(addprefix experiments/,cli io claims cluster sweep)))
BENCH_SRC:= $(wildcard experiments/bench/*.cpp)
TEST_SRC := $(wildcard tests/*.cpp)

LIB_OBJ  := $(LIB_SRC:%.cpp=$(BUILD)/obj/%.o)
CLI_OBJ  := $(CLI_SRC:%.cpp=$(BUILD)/obj/%.o)
BENCH_OBJ:= $(BENCH_SRC:%.cpp=$(BUILD)/obj/%.o)
TEST_OBJ := $(TEST_SRC:%.cpp=$(BUILD)/obj/%.o)

.PHONY: all deps test bench repro clean fuzz
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
	$(CXX) $(CXXFLAGS) $^ -o $@ $(LDLIBS) $(MPI_LDLIBS)

# Pure helpers of experiments/ that the tests call directly (no command line, no MPI).
TESTED_CLI_OBJ := $(addprefix $(BUILD)/obj/experiments/,claims/stats.o claims/jtdmoe.o claims/p2_models.o \
                  claims/common.o io/gnuplot_run.o io/program_run.o io/data_spec.o)

$(BUILD)/moelab_tests: $(TEST_OBJ) $(TESTED_CLI_OBJ) $(BUILD)/libmoelab.a
	$(CXX) $(CXXFLAGS) $^ -o $@ $(LDLIBS) -lboost_unit_test_framework

$(BUILD)/moelab_bench: $(BENCH_OBJ) $(BUILD)/obj/experiments/io/program_run.o $(BUILD)/libmoelab.a
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
	@$(BUILD)/moelab_bench --out out/bench.json $(if $(W),--workloads $(W)) $(BENCH_FLAGS)

PROFILE ?= quick
repro: deps
	@$(MAKE) --no-print-directory $(BUILD)/moelab
	@sh experiments/repro.sh $(BUILD) $(PROFILE)

clean:
	rm -rf build build-sanitize build-fuzz

# Only the dependency files of today's sources: a build directory from before a file moved keeps stale ones.
-include $(wildcard $(patsubst %.o,%.d,$(LIB_OBJ) $(CLI_OBJ) $(BENCH_OBJ) $(TEST_OBJ)))

# libFuzzer targets for the input parsers (tests/fuzz/), built with clang, ASan and UBSan in their own
# directory against the engine, moe and theory sources compiled the same way (not the g++ libmoelab.a).
#   make fuzz [FUZZ_SECONDS=60]   runs each target that long on a copy of tests/fuzz/corpus/<target>/
FUZZ_BUILD    := build-fuzz
FUZZ_CXX      ?= clang++-14
FUZZ_SECONDS  ?= 60
FUZZ_CXXFLAGS := -std=c++20 -ffp-contract=off -I. -fopenmp -g -O1
FUZZ_LIB_SRC  := $(wildcard engine/*.cpp moe/*.cpp theory/*/*.cpp)
FUZZ_LIB_OBJ  := $(FUZZ_LIB_SRC:%.cpp=$(FUZZ_BUILD)/obj/%.o)
FUZZ_TARGETS  := $(basename $(notdir $(wildcard tests/fuzz/fuzz_*.cpp)))

$(FUZZ_LIB_OBJ): $(FUZZ_BUILD)/obj/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(FUZZ_CXX) $(FUZZ_CXXFLAGS) -fsanitize=fuzzer-no-link,address,undefined -MMD -MP -c $< -o $@

$(FUZZ_BUILD)/libmoelab.a: $(FUZZ_LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.cpp tests/fuzz/fuzz_inputs.hpp $(FUZZ_BUILD)/libmoelab.a
	$(FUZZ_CXX) $(FUZZ_CXXFLAGS) -fsanitize=fuzzer,address,undefined $< $(FUZZ_BUILD)/libmoelab.a -o $@ \
		-fopenmp -lopenblas -llapacke -lz -lglpk -lgmpxx -lgmp -lCbcSolver -lCbc -lCgl -lOsiClp -lClp -lOsi -lCoinUtils

fuzz:
	@MOELAB_WITH_FUZZ=1 sh .ci/deps
	@$(MAKE) --no-print-directory $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/%)
	@sh tests/fuzz/run_fuzz.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

-include $(wildcard $(FUZZ_LIB_OBJ:.o=.d))
