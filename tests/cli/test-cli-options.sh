#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# podscope's command line: usage errors, exit codes, and the German translation.
# TAP. Usage: test-cli-options.sh PODSCOPE
set -u
PODSCOPE=$(realpath "${1:?usage: $0 PODSCOPE}")
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
n=0
fails=0

ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $1"; sed 's/^/# /' "$TMP/err" "$TMP/out" 2>/dev/null; }

# expect NAME STATUS PATTERN -- COMMAND...: exit status and a pattern in stdout+stderr
expect() {
	local name=$1 status=$2 pattern=$3
	shift 4
	"$@" >"$TMP/out" 2>"$TMP/err" </dev/null
	local rc=$?
	if [ "$rc" -ne "$status" ]; then
		echo "# exit status $rc, expected $status"
		not_ok "$name"
	elif ! cat "$TMP/out" "$TMP/err" | grep -q -- "$pattern"; then
		echo "# output lacks: $pattern"
		not_ok "$name"
	else
		ok "$name"
	fi
}

echo "1..17"
# English messages for the English checks, whatever the caller's locale.
export LC_ALL=C.UTF-8 LANGUAGE=

expect "no arguments prints usage, exit 2" 2 "podscope COMMAND" -- "$PODSCOPE"
expect "--help lists the commands" 0 "tap " -- "$PODSCOPE" --help
expect "--help lists demo" 0 "demo " -- "$PODSCOPE" --help
expect "--version" 0 "^podscope [0-9]" -- "$PODSCOPE" --version
expect "unknown command, exit 2" 2 "unknown command “frobnicate”" -- "$PODSCOPE" frobnicate
expect "tap --help shows -w" 0 "--write=FILE" -- "$PODSCOPE" tap --help
expect "tap without targets, exit 2" 2 "nothing to tap" -- "$PODSCOPE" tap -w "$TMP/x.pcapng"
expect "tap without -w, exit 2" 2 "no output" -- "$PODSCOPE" tap --netns web
expect "tap --pid not a number, exit 2" 2 "“abc” is not a process id" -- "$PODSCOPE" tap --pid abc -w -
expect "tap bad --envelope, exit 2" 2 "unknown envelope" -- "$PODSCOPE" tap --netns a --envelope zip -w -
expect "tap bad --name, exit 2" 2 "ADDRESS=NAME" -- "$PODSCOPE" tap --netns a --name foo -w -
expect "tap unknown option, exit 2" 2 "Unknown option" -- "$PODSCOPE" tap --frob
expect "demo --requests 0, exit 2" 2 "between 1 and 10000" -- "$PODSCOPE" demo --requests 0
# The session checks the namespace before it starts anything; /bin/true stands in
# for the hub and agent so this needs neither root nor the other programs.
expect "tap unknown netns, exit 1" 1 "network namespace “pds-no-such-ns-$$” not found" -- \
	env PODSCOPE_HUB_BIN=/bin/true PODSCOPE_AGENT_BIN=/bin/true \
	"$PODSCOPE" tap --netns "pds-no-such-ns-$$" -w "$TMP/x.pcapng"

# German: LANGUAGE=de must work with LANG=C.UTF-8 and with a plain C locale.
unset LC_ALL
expect "LANGUAGE=de --help is German (LANG=C.UTF-8)" 0 "Befehle:" -- \
	env LANG=C.UTF-8 LANGUAGE=de "$PODSCOPE" --help
expect "LANGUAGE=de --help is German (LANG=C)" 0 "Aufruf:" -- \
	env LANG=C LANGUAGE=de "$PODSCOPE" --help
expect "LANGUAGE=de tap --help is German" 0 "Mitschnittfilter in pcap-filter-Syntax" -- \
	env LANG=C.UTF-8 LANGUAGE=de "$PODSCOPE" tap --help

exit $((fails > 0))
