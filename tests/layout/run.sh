#!/bin/sh
# The wings keep to themselves (README "How it is built"): the core includes no other wing and no
# I/O or libconfig header; postfix, sendmail and hmailserver never include each other (nor does
# hmailserver include the config wing or libconfig); the daemon and the image wing know no config
# wing and no libconfig. Each rule is one check;
# the output names the offending lines. Last line: "layout: N passed, M failed".
cd "$(dirname "$0")/../.." || exit 1
passed=0
failed=0
check() {  # check NAME COMMAND...: passes when the command prints nothing
    name=$1; shift
    out=$("$@" 2>&1)
    if [ -z "$out" ]; then
        passed=$((passed + 1)); echo "ok: $name"
    else
        failed=$((failed + 1)); echo "FAIL: $name"; echo "$out"
    fi
}
check "core includes no other wing" \
    grep -rnE '#include "(route_milter/)?(config|postfix|sendmail|milter|routectl|common|hmailserver)/' src/core include/route_milter/core
check "core does no I/O and knows no libconfig" \
    grep -rnE '#include <(libconfig\.h\+\+|fstream|cstdio|sys/stat\.h|fcntl\.h|unistd\.h|syslog\.h|libmilter/mfapi\.h|ctime|chrono)>' src/core include/route_milter/core
check "sendmail does not include postfix" \
    grep -rnE '#include "(route_milter/)?postfix/' src/sendmail include/route_milter/sendmail
check "postfix does not include sendmail" \
    grep -rnE '#include "(route_milter/)?sendmail/' src/postfix include/route_milter/postfix
check "hmailserver includes no other translator, no config wing, no libconfig" \
    grep -rnE '#include ("(route_milter/)?(config|postfix|sendmail|milter|routectl)/|<libconfig)' src/hmailserver include/route_milter/hmailserver
check "postfix, sendmail and config do not include hmailserver" \
    grep -rnE '#include "(route_milter/)?hmailserver/' src/postfix src/sendmail src/config include/route_milter/postfix include/route_milter/sendmail include/route_milter/config
check "the daemon and the image wing know no config wing and no libconfig (the daemon maps the image)" \
    grep -rnE '#include ("(route_milter/)?config/|<libconfig)' src/milter src/image include/route_milter/image
check "every header lives in a wing" sh -c 'ls include/route_milter/*.hpp 2>/dev/null'
check "every source file lives in a wing" sh -c 'ls src/*.cpp 2>/dev/null'
echo "layout: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
