#!/bin/sh
# `make fuzz`: builds the libFuzzer targets with clang (ASan+UBSan) and runs each for
# FUZZ_SECONDS on a working copy of its seed corpus (tests/fuzz/corpus/TARGET). Crashing inputs
# are kept in build/fuzz/crashes/; copy each into the seed corpus once it is fixed.
# Prints executions and coverage per target, and "fuzz: N passed, M failed".
set -u
cd "$(dirname "$0")/../.."
seconds=${FUZZ_SECONDS:-60}
targets="address envelope config ip decide hmailserver address_file image"
if ! command -v clang++ >/dev/null || [ ! -e /usr/lib/llvm-14/lib/clang/14.0.6/lib/linux/libclang_rt.fuzzer-x86_64.a ] && \
   ! ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
    echo "installing clang and its fuzzer runtime"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq clang libclang-rt-dev >/dev/null
fi
binaries=""
for t in $targets; do binaries="$binaries build/fuzz/fuzz-$t"; done
if ! make -s CXX=clang++ BUILD=build/fuzz SANITIZE=fuzz $binaries; then
    echo "fuzz: 0 passed, 1 failed"
    exit 1
fi
mkdir -p build/fuzz/crashes
passed=0 failed=0
for t in $targets; do
    work=build/fuzz/corpus/$t
    mkdir -p "$work"
    log=build/fuzz/$t.log
    # Addresses up to 200 kB (the 100 kB seeds); configs stay short so that mutations explore
    # structure rather than re-parse long texts; images a few times their seeds' 3 kB.
    max_len=200000; [ "$t" = config ] && max_len=8192; [ "$t" = hmailserver ] && max_len=65536
    [ "$t" = image ] && max_len=16384
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ASAN_OPTIONS=detect_leaks=1 \
        LSAN_OPTIONS=suppressions=$PWD/tests/fuzz/lsan.supp \
        build/fuzz/fuzz-$t -max_total_time="$seconds" -print_final_stats=1 -max_len="$max_len" -timeout=10 \
        -artifact_prefix=build/fuzz/crashes/$t- "$work" tests/fuzz/corpus/$t >"$log" 2>&1
    status=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -n 1)
    if [ "$status" -eq 0 ]; then
        passed=$((passed + 1))
        echo "fuzz $t: ok, ${execs:-?} executions in ${seconds}s, ${cov:-cov: ?}, corpus $(ls "$work" | wc -l) inputs"
    else
        failed=$((failed + 1))
        echo "fuzz $t: FAILED (exit $status) after ${execs:-?} executions; see $log and build/fuzz/crashes/"
        grep -E 'ERROR|runtime error|SUMMARY|Test unit written' "$log" | head -n 5
    fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
