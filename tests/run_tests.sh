#!/bin/sh
# Runs the Boost.Test binary and ends with one plain line "tests: N passed, N failed, N skipped".
# Usage: tests/run_tests.sh BUILD_DIR [extra Boost.Test arguments]
set -u
build=$1; shift
report="$build/test_report.xml"
# The MPI tests (test_sweep.cpp, test_data_parallel.cpp) launch the binary through $MOELAB_MPIRUN; they are
# skipped, saying so, when mpirun is missing or the binary was built without MPI. As root (CI containers)
# mpirun needs --allow-run-as-root; 2 ranks on fewer cores need --oversubscribe; -q keeps a failing run's
# stderr to our one line. LeakSanitizer would flag Open MPI's allocations still held at exit in a
# SANITIZE=1 build, so leak detection is off for the processes mpirun starts (ASan's other checks stay on).
unset MOELAB_MPIRUN
if command -v mpirun >/dev/null 2>&1 && [ -x "$build/moelab" ] && ! "$build/moelab" info 2>/dev/null | grep -q "MPI:.*left out"; then
    export MOELAB_MPIRUN="mpirun -q --allow-run-as-root --oversubscribe --bind-to none -x ASAN_OPTIONS=detect_leaks=0"
fi
MOELAB_BIN="$build/moelab" "$build/moelab_tests" --log_level=test_suite --color_output=no --report_format=XML --report_level=detailed \
    --report_sink="$report" "$@"
rc=$?
# The first TestSuite element is the module: its attributes are the totals.
top=$(sed -n 's/^<TestResult><TestSuite \([^>]*\)>.*/\1/p' "$report" 2>/dev/null)
attr() { printf '%s\n' "$top" | sed -n "s/.* $1=\"\([0-9]*\)\".*/\1/p"; }
passed=$(attr test_cases_passed); failed=$(attr test_cases_failed)
skipped=$(attr test_cases_skipped); aborted=$(attr test_cases_aborted)
echo "tests: ${passed:-0} passed, $(( ${failed:-0} + ${aborted:-0} )) failed, ${skipped:-0} skipped"
exit $rc
