#!/bin/sh
# Runs the Boost.Test unit suite; prints its failures and "unit: N passed, M failed" (test cases).
binary=$1
out=$(mktemp)
"$binary" --report_level=short --color_output=no >"$out" 2>&1
status=$?
grep -vE '^$' "$out" | grep -vE '^(Running [0-9]+ test cases|Test module|\s+[0-9]+ (assertion|test case)|\*\*\* No errors)'
total=$(sed -n 's/^Running \([0-9]*\) test cases.*/\1/p' "$out")
passed=$(sed -n 's/^ *\([0-9]*\) test cases\{0,1\} out of [0-9]* passed.*/\1/p' "$out")
if [ -z "$passed" ] && grep -q '^\*\*\* No errors detected' "$out"; then passed=${total:-0}; fi
passed=${passed:-0}
failed=$(( ${total:-0} - passed ))
[ "$status" -ne 0 ] && [ "$failed" -eq 0 ] && failed=1   # crashed outside any test case
rm -f "$out"
echo "unit: $passed passed, $failed failed"
[ "$status" -eq 0 ]
