#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# podscope-agent's command line: bad input fails with exit 1 and a message that
# names what was wrong and lists what exists. TAP output.
set -u

AGENT="${PDS_BUILD_ROOT:?}/agent/podscope-agent"
SUITE="${1:-unit}"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT INT TERM

n=0
fail=0
ok() {
	n=$((n + 1))
	echo "ok $n - $1"
}
not_ok() {
	n=$((n + 1))
	fail=1
	echo "not ok $n - $1"
	sed 's/^/# /' "$TMP/err"
}
skip() {
	n=$((n + 1))
	echo "ok $n - $1 # SKIP $2"
}

# run NAME EXPECTED_STATUS PATTERN... -- ARGS...
expect() {
	name=$1
	status=$2
	shift 2
	patterns=""
	while [ "$1" != "--" ]; do
		patterns="$patterns
$1"
		shift
	done
	shift
	timeout 20 "$AGENT" "$@" >"$TMP/out" 2>"$TMP/err"
	rc=$?
	if [ "$rc" -ne "$status" ]; then
		echo "# exit status $rc, expected $status" >>"$TMP/err"
		not_ok "$name"
		return
	fi
	echo "$patterns" | while IFS= read -r p; do
		[ -z "$p" ] && continue
		if ! grep -qF -- "$p" "$TMP/err"; then
			echo "# stderr lacks: $p" >>"$TMP/err"
			echo missing >"$TMP/missing"
		fi
	done
	if [ -e "$TMP/missing" ]; then
		rm -f "$TMP/missing"
		not_ok "$name"
	else
		ok "$name"
	fi
}

HUB="--hub 127.0.0.1:9"

if [ "$SUITE" = unit ]; then
	echo "1..8"
	missing="pdsag-missing-$$"
	# The listing must show what exists, whatever that is.
	if [ -d /run/netns ] && [ -n "$(ls /run/netns 2>/dev/null)" ]; then
		first=$(ls /run/netns | sort | head -n 1)
	else
		first="no named network namespaces exist"
	fi
	expect "unknown netns names it and lists /run/netns" 1 \
		"$missing" "/run/netns" "$first" -- $HUB --netns "$missing"
	expect "a file that is not a namespace is refused" 1 \
		"/etc/hostname" "not a namespace" -- $HUB --netns /etc/hostname
	expect "missing hub is an error" 1 "--hub" -- -i lo
	expect "bad hub address is an error" 1 "invalid hub address" -- --hub "127.0.0.1:notaport"
	expect "unknown option is an error" 1 "--bogus" -- --bogus
	expect "a malformed join token is an error" 1 "invalid join token" -- \
		$HUB --join-token not-a-token --ca-fingerprint sha256:00
	expect "a size with an unknown suffix is an error" 1 "expected bytes" -- \
		$HUB --buffer-size 3X
	expect "a snaplen above 262144 is an error" 1 "at most 262144" -- $HUB --snaplen 1M
	exit $fail
fi

echo "1..4"
if [ "$(id -u)" -ne 0 ]; then
	skip "unknown interface" "needs root"
	skip "bad filter" "needs root"
	skip "interfaces listed inside a netns" "needs root"
	skip "host interfaces not listed for a netns" "needs root"
	exit 0
fi
expect "unknown interface names it and lists interfaces" 1 \
	"pdsnope0" "lo" "any" -- $HUB -i pdsnope0
expect "bad filter reports pcap's message" 1 \
	"tcp port" "syntax error" -- $HUB -i lo -f "tcp port"

# Inside a namespace the listing is of that namespace's interfaces.
ns="pdsagcli$$"
ip netns add "$ns" || { not_ok "create netns"; exit 1; }
trap 'ip netns del "$ns" 2>/dev/null; rm -rf "$TMP"' EXIT INT TERM
ip -n "$ns" link add "pdsdummy$$" type veth peer name "pdsdummyb$$"
hostif=$(ip -o link show | awk -F': ' 'NR==2 {print $2}' | cut -d@ -f1)
expect "unknown interface inside a netns lists that netns's interfaces" 1 \
	"pdsnope0" "pdsdummy$$" "$ns" -- $HUB --netns "$ns" -i pdsnope0
if [ -n "$hostif" ] && grep -qF "$hostif" "$TMP/err"; then
	not_ok "the listing does not show the host's interface $hostif"
else
	ok "the listing does not show the host's interface $hostif"
fi
exit $fail
