#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# podscope demo end to end: exit status, tshark's count of HTTP requests in the
# capture equals the requests made, and no namespace is left behind — after a
# normal run and after SIGINT in the middle of the traffic.
# TAP. Usage: test-cli-demo.sh PODSCOPE   (root; skips otherwise)
set -u
PODSCOPE=$(realpath "${1:?usage: $0 PODSCOPE}")
if [ "$(id -u)" -ne 0 ]; then
	echo "1..0 # SKIP podscope demo needs root (network namespaces)"
	exit 0
fi
for tool in tshark ip; do
	if ! command -v "$tool" >/dev/null; then
		echo "Bail out! $tool is missing"
		exit 1
	fi
done

TMP=$(mktemp -d)
DEMO_PID=
cleanup() {
	[ -n "$DEMO_PID" ] && kill -KILL "$DEMO_PID" 2>/dev/null
	# Whatever a failed run left: only namespaces of the demos this test started.
	for pid in $(cat "$TMP/pids" 2>/dev/null); do
		for ns in $(ip netns list | awk '{print $1}' | grep "^pds-demo-$pid-"); do
			ip netns delete "$ns"
		done
	done
	rm -rf "$TMP"
}
trap cleanup EXIT
n=0
fails=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $1"; }
check() { if eval "$2"; then ok "$1"; else not_ok "$1"; fi; }
dump() { sed 's/^/# /' "$@"; }
left_netns() { ip netns list | awk '{print $1}' | grep -c "^pds-demo-$1-"; }

export LC_ALL=C.UTF-8 LANGUAGE=
echo "1..11"

# 1. A normal run.
REQUESTS=7
cd "$TMP" || exit 1
"$PODSCOPE" demo --requests $REQUESTS >"$TMP/out" 2>"$TMP/err" &
DEMO_PID=$!
echo $DEMO_PID >>"$TMP/pids"
wait $DEMO_PID
rc=$?
pid=$DEMO_PID
DEMO_PID=
check "demo exits 0" "[ $rc -eq 0 ]" || true
[ $rc -eq 0 ] || dump "$TMP/out" "$TMP/err"
check "demo.pcapng written" "[ -s '$TMP/demo.pcapng' ]"
summary=$(grep -E '^[0-9]+ requests made, [0-9]+ HTTP requests in demo.pcapng$' "$TMP/out")
check "summary line printed" "[ -n '$summary' ]"
check "summary says $REQUESTS requests made and $REQUESTS in the capture" \
	"[ '$summary' = '$REQUESTS requests made, $REQUESTS HTTP requests in demo.pcapng' ]"
# Our own count, not the demo's: tshark on the file.
count=$(tshark -r "$TMP/demo.pcapng" -Y http.request -T fields -e http.request.uri 2>/dev/null | wc -l)
check "tshark finds $REQUESTS HTTP requests in demo.pcapng (found $count)" "[ $count -eq $REQUESTS ]"
responses=$(tshark -r "$TMP/demo.pcapng" -Y http.response -T fields -e http.response.code 2>/dev/null | wc -l)
check "tshark finds $REQUESTS HTTP responses (found $responses)" "[ $responses -eq $REQUESTS ]"
check "no pds-demo-$pid namespace left" "[ $(left_netns $pid) -eq 0 ]"

# 2. SIGINT while the client is busy: the demo stops, fails, and removes its namespaces.
"$PODSCOPE" demo --requests 10000 -o "$TMP/int.pcapng" >"$TMP/out2" 2>"$TMP/err2" &
DEMO_PID=$!
echo $DEMO_PID >>"$TMP/pids"
for _ in $(seq 200); do
	grep -q "^Tapping" "$TMP/err2" && break
	sleep 0.1
done
sleep 1
created=$(left_netns $DEMO_PID)
kill -INT $DEMO_PID 2>/dev/null
# Bounded wait: the demo must not hang after SIGINT.
for _ in $(seq 300); do
	kill -0 $DEMO_PID 2>/dev/null || break
	sleep 0.1
done
if kill -0 $DEMO_PID 2>/dev/null; then
	rc=999
else
	wait $DEMO_PID
	rc=$?
fi
pid=$DEMO_PID
DEMO_PID=
check "interrupted demo had made its 2 namespaces ($created) and exits 1 (rc $rc)" \
	"[ $created -eq 2 ] && [ $rc -eq 1 ]"
[ $rc -eq 1 ] || dump "$TMP/err2"
check "interrupted demo leaves no pds-demo-$pid namespace" "[ $(left_netns $pid) -eq 0 ]"

# 3. An error on the way (the agent cannot start): exit 1, namespaces removed.
PODSCOPE_AGENT_BIN=/bin/false "$PODSCOPE" demo -o "$TMP/err.pcapng" >"$TMP/out3" 2>"$TMP/err3" &
DEMO_PID=$!
echo $DEMO_PID >>"$TMP/pids"
wait $DEMO_PID
rc=$?
pid=$DEMO_PID
DEMO_PID=
check "demo whose agent fails exits 1 and says why (rc $rc)" \
	"[ $rc -eq 1 ] && grep -q 'podscope-agent .* ended early' '$TMP/err3'"
[ $rc -eq 1 ] || dump "$TMP/err3"
check "failed demo leaves no pds-demo-$pid namespace" "[ $(left_netns $pid) -eq 0 ]"

exit $((fails > 0))
