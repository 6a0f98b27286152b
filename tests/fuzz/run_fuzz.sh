#!/bin/sh
# Runs each libFuzzer target for a fixed time on a scratch copy of its seed corpus (so the repository's
# corpus does not grow) and prints one line per target: executions, and whether it crashed. Crash, leak,
# timeout and out-of-memory inputs go to BUILD_DIR/crashes/<target>/. Exits 1 if any target failed.
# Usage: tests/fuzz/run_fuzz.sh BUILD_DIR SECONDS TARGET...
set -u
build=$1 seconds=$2
shift 2
# UBSan only prints and carries on by default; halting makes libFuzzer record the input as a crash.
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
failed=0
for target in "$@"; do
    corpus="$build/corpus/$target" crashes="$build/crashes/$target" log="$build/$target.log"
    rm -rf "$corpus"
    mkdir -p "$corpus" "$crashes"
    cp tests/fuzz/corpus/"$target"/* "$corpus"/
    # An input taking over 10 s is a hang. A single allocation over 1 GiB is a finding too (the inputs are at
    # most 4 KiB); checked at the malloc, unlike the RSS limit, so the artifact is the input that did it.
    dict=""
    [ -f "tests/fuzz/$target.dict" ] && dict="-dict=tests/fuzz/$target.dict"
    "$build/$target" -max_total_time="$seconds" -timeout=10 -malloc_limit_mb=1024 -print_final_stats=1 $dict \
        -artifact_prefix="$crashes/" "$corpus" >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -n 1)
    [ -n "$execs" ] || execs=$(sed -n 's/^#\([0-9]*\).*/\1/p' "$log" | tail -n 1)
    if [ "$rc" = 0 ]; then
        echo "$target: ${execs:-?} executions in ${seconds} s, no crash"
    else
        artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
        echo "$target: CRASHED after ${execs:-?} executions (exit $rc): input ${artifact:-?}, log $log"
        failed=1
    fi
done
exit $failed
