#!/bin/sh
# `make bench`: the core's speed on a big config, then SMTP throughput through a real Postfix.
# Compile, start, memory and reload against their targets: BENCH_BIG=1 adds 10^7 addresses,
# BENCH_BEFORE=DIR measures the build in DIR (the code before) beside this one, alternating.
set -eu
build=${1:-build}
mkdir -p "$build/bench"
conf="$build/bench/100k-routes.conf"
[ -s "$conf" ] || "$build/bench-core" generate "$conf" 100000 10
files="$build/bench/100k-routes-files.conf"   # the same addresses, one addresses_file per route
[ -s "$files" ] || "$build/bench-core" generate "$files" 100000 10 files
echo "== core: 100,000 routes, 1,000,000 listed addresses ($(du -h "$conf" | cut -f1) config)"
for i in 1 2 3; do "$build/bench-core" load "$conf"; done
echo "== core: the same, the addresses in 100,000 address files ($(du -h "$files" | cut -f1) config)"
for i in 1 2 3; do "$build/bench-core" load "$files"; done
for i in 1 2 3; do for way in path openat; do "$build/bench-core" read-files "$files.d" $way; done; done  # the kernel's share of that load (path: the old calls)
"$build/bench-core" decide "$files" 7
"$build/bench-core" reload "$files" 7  # a reload's own work, nothing changed (the daemon's: below)
echo "== routectl writing the MTA maps (100,000 routes in address files)"
python3 tests/bench/routectl_maps.py "$build/routectl" "$files" sendmail 3
python3 tests/bench/routectl_maps.py "$build/routectl" "$files" postfix 3
python3 tests/bench/routectl_maps.py "$build/routectl" "$files" postfix-cdb 3  # default_database_type = cdb
echo "== routectl import-hmailserver (generated backups of 5,000 and 20,000 routes)"
python3 tests/bench/import_hmailserver.py "$build/routectl" 3 5000 20000
echo "== the daemon across reloads (address files)"
python3 tests/bench/reload_rss.py "$build/route-milter" "$files" 3
python3 tests/bench/reload_rss.py "$build/route-milter" "$files" 3 "$files.d/d4242.example.com"
echo "== compile, start, private memory and reload against their targets (100,000 routes, 10,000 address files)"
before=${BENCH_BEFORE:+--build $BENCH_BEFORE}
python3 tests/bench/image_targets.py $before --build "$build" --cache "$build/bench" --scale 6
[ "${BENCH_BIG:-0}" = 0 ] || python3 tests/bench/image_targets.py $before --build "$build" --cache "$build/bench" --scale 7
echo "== SMTP through Postfix on loopback"
python3 tests/bench/smtp_bench.py "$build" ${BENCH_ARGS:-}
