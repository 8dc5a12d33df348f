#!/bin/sh
# Installs the Debian packages route-milter needs to build and test, when they are missing.
set -eu
packages="g++ make miltertest libmilter-dev libconfig++-dev libidn2-dev libpsl-dev libcdb-dev libboost-test-dev nlohmann-json3-dev libsystemd-dev
          libmicrohttpd-dev libssl-dev libcurl4-openssl-dev prometheus
          libarchive-dev libxml2-dev nettle-dev 7zip libcdb-dev liblmdb-dev libicu-dev
          postfix postfix-cdb postfix-lmdb sasl2-bin libsasl2-modules python3 procps
          debhelper dpkg-dev fakeroot lintian systemd man-db adduser"
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
# Postfix must install without questions, and must not start a system-wide instance.
echo 'postfix postfix/main_mailer_type select No configuration' | debconf-set-selections
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing >/dev/null
