#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# run-fuzz.sh FUZZER CORPUS SECONDS: runs a libFuzzer target for a bounded time
# from its seed corpus (new inputs go to a scratch directory, never into the
# source tree) and reports one TAP result. Crash inputs are kept and named.
# PDS_FUZZ_SECONDS, when set, replaces SECONDS.
set -u
fuzzer=$1
corpus=$2
seconds=${PDS_FUZZ_SECONDS:-$3}
name=$(basename "$fuzzer")
work=$(mktemp -d "${TMPDIR:-/tmp}/pds-$name-XXXXXX")
trap 'rm -rf "$work/new"' EXIT
mkdir "$work/new"
echo "1..1"
if "$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	-artifact_prefix="$work/" "$work/new" "$corpus" >"$work/log" 2>&1; then
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log")
	echo "ok 1 - $name: ${runs:-?} inputs in ${seconds}s, no crash, leak or limit overrun"
	rm -rf "$work"
else
	echo "not ok 1 - $name failed; inputs and log kept in $work"
	tail -n 40 "$work/log" | sed 's/^/# /'
	trap - EXIT
	exit 1
fi
