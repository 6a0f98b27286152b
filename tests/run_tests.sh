#!/bin/sh
# Runs the Boost.Test binary and ends with one plain line "tests: N passed, N failed, N skipped".
# Usage: tests/run_tests.sh BUILD_DIR [extra Boost.Test arguments]
set -u
build=$1; shift
report="$build/test_report.xml"
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
