#!/bin/sh
# Installs the Debian packages a make target needs, when they are missing (as root, with apt-get).
# Usage: tests/install-deps.sh SET...   (the union of the sets is installed)
#   build    compiler and -dev libraries: what make (all, install) needs; make deps, make run
#   deb      build + the unit tests' library + packaging tools: make deb
#   postfix  a real Postfix with SASL, python3: what the labs drive (make soak: build + postfix)
#   test     build + postfix + miltertest, promtool, 7-Zip, Boost.Test: the suites of make check,
#            make check-tsan
#   package  deb + postfix + lintian, systemd, man-db: make package-check
#   fuzz     build + clang and its fuzzer runtime: make fuzz
#   check    test + package + fuzz: make check
#   bench    build + postfix + 7-Zip: make bench
# Never installs an MTA or a Prometheus server for the build or deb sets.
set -eu
build="g++ make libmilter-dev libconfig++-dev libidn2-dev libpsl-dev libcdb-dev nlohmann-json3-dev
       libsystemd-dev libmicrohttpd-dev libssl-dev libcurl4-openssl-dev libarchive-dev libxml2-dev
       nettle-dev liblmdb-dev libicu-dev"
deb="$build libboost-test-dev debhelper dpkg-dev fakeroot"
postfix="postfix postfix-cdb postfix-lmdb sasl2-bin libsasl2-modules python3 procps"
test="$build $postfix libboost-test-dev miltertest prometheus 7zip"
package="$deb $postfix lintian systemd man-db adduser 7zip"
fuzz="$build clang libclang-rt-dev"
check="$test $package $fuzz"
bench="$build $postfix 7zip"

[ $# -gt 0 ] || { echo "usage: $0 build|deb|postfix|test|package|fuzz|check|bench ..." >&2; exit 64; }
packages=""
for set in "$@"; do
    case $set in
        build) packages="$packages $build" ;;
        deb) packages="$packages $deb" ;;
        postfix) packages="$packages $postfix" ;;
        test) packages="$packages $test" ;;
        package) packages="$packages $package" ;;
        fuzz) packages="$packages $fuzz" ;;
        check) packages="$packages $check" ;;
        bench) packages="$packages $bench" ;;
        *) echo "$0: unknown set '$set' (build, deb, postfix, test, package, fuzz, check, bench)" >&2; exit 64 ;;
    esac
done
packages=$(echo $packages | tr ' ' '\n' | awk '!seen[$0]++' | tr '\n' ' ')

missing=""
for p in $packages; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "installing:$missing"
if [ "$(id -u)" != 0 ]; then
    echo "need root to install:$missing" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
case " $missing " in
    *" postfix "*)
        # Postfix must install without questions, and must not start a system-wide instance.
        echo 'postfix postfix/main_mailer_type select No configuration' | debconf-set-selections ;;
esac
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing >/dev/null
