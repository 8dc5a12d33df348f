#!/bin/sh
# Writes the seed corpus of fuzz-image, tests/fuzz/corpus/image/NAME.image: each config in
# tests/fuzz/image_seeds/ compiled by `routectl compile` (a few KB each). Run from anywhere after
# `make`, and again whenever the image format changes (the unit test
# the_fuzz_seeds_are_images_this_build_opens says when); ROUTECTL names another routectl.
set -eu
cd "$(dirname "$0")/../.."
routectl=${ROUTECTL:-build/routectl}
work=$(mktemp -d)  # private: the loader refuses config files others could write
trap 'rm -rf "$work"' EXIT
mkdir -p tests/fuzz/corpus/image
for conf in tests/fuzz/image_seeds/*.conf; do
    name=$(basename "$conf" .conf)
    cp "$conf" "$work/$name.conf"
    chmod 600 "$work/$name.conf"
    "$routectl" compile -q --skip-user-check -c "$work/$name.conf" -o "$work/$name.image"
    cp "$work/$name.image" "tests/fuzz/corpus/image/$name.image"
    echo "tests/fuzz/corpus/image/$name.image: $(wc -c <"$work/$name.image") bytes"
done
