#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# "Include file accesses" of podscope-local (TAP): a process in a network
# namespace and a cgroup of its own is tapped by PID through the extcap (as
# dumpcap runs it, into a fifo); podscope-snoop traces its cgroup. The file
# accesses must come out as podscope.file.* fields, in time order with the
# HTTP packets made between them.
#
#   test-extcap-files.sh PODSCOPE PLUGIN.so
set -u

podscope="$1"
plugin="$2"
here=$(dirname "$(readlink -f "$0")")
. "$here/pds-tshark-env.sh"

if [ "$(id -u)" != 0 ]; then
	echo "1..0 # SKIP needs root for network namespaces, cgroups and eBPF"
	exit 77
fi
cgroot=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
if [ -z "$cgroot" ] || ! command -v tshark >/dev/null; then
	echo "1..0 # SKIP needs cgroup v2 and tshark"
	exit 77
fi

n=0
failed=0
check() {
	local name="$1"
	shift
	n=$((n + 1))
	if "$@"; then
		echo "ok $n - $name"
	else
		failed=1
		echo "not ok $n - $name"
	fi
}

ns_a="pdswfa$$"
ns_b="pdswfb$$"
cg="$cgroot/pdswf$$"
sleeper=""
server=""
extcap=""
reader=""
cleanup() {
	for pid in $extcap $reader $sleeper $server; do
		kill "$pid" 2>/dev/null
	done
	wait 2>/dev/null
	ip netns del "$ns_a" 2>/dev/null
	ip netns del "$ns_b" 2>/dev/null
	rmdir "$cg" 2>/dev/null
	pds_ws_cleanup
}
trap cleanup EXIT

ip netns add "$ns_a"
ip netns add "$ns_b"
ip link add "pdsf$$a" type veth peer name "pdsf$$b"
ip link set "pdsf$$a" netns "$ns_a"
ip link set "pdsf$$b" netns "$ns_b"
ip -n "$ns_a" addr add 10.236.0.1/24 dev "pdsf$$a"
ip -n "$ns_b" addr add 10.236.0.2/24 dev "pdsf$$b"
ip -n "$ns_a" link set "pdsf$$a" up
ip -n "$ns_b" link set "pdsf$$b" up
ip netns exec "$ns_b" python3 -m http.server 8080 --bind 10.236.0.2 --directory /etc \
	>/dev/null 2>&1 &
server=$!
mkdir "$cg"
# The tapped process: its namespace is captured, its cgroup traced.
ip netns exec "$ns_a" sleep 600 &
sleeper=$!
echo "$sleeper" >"$cg/cgroup.procs"

pds_ws_setup "$plugin"
out="$PDS_WS_HOME/out"
mkdir -p "$out"
mkfifo "$PDS_WS_HOME/fifo"
cat "$PDS_WS_HOME/fifo" >"$PDS_WS_HOME/files.pcapng" &
reader=$!
"$podscope" --capture --extcap-interface podscope-local --fifo "$PDS_WS_HOME/fifo" \
	--pid "$sleeper" --include-files --log-file "$out/extcap.log" &
extcap=$!
for _ in $(seq 1 100); do
	grep -q "connected from" "$out/extcap.log" 2>/dev/null &&
		grep -q "snoop" "$out/extcap.log" && break
	sleep 0.1
done
sleep 2

# In the cgroup: read a file, make a request, read another file.
ip netns exec "$ns_a" sh -c "sleep 0.5; cat /etc/hostname >/dev/null; sleep 0.5;
	curl -s -o /dev/null http://10.236.0.2:8080/passwd; sleep 0.5; cat /etc/issue >/dev/null" &
work=$!
echo "$work" >"$cg/cgroup.procs"
wait "$work"
sleep 2
start=$(date +%s.%N)
kill -TERM "$extcap"
wait "$extcap"
rc=$?
extcap=""
wait "$reader"
reader=""
elapsed=$(echo "$(date +%s.%N) - $start" | bc)
check "the extcap stops on SIGTERM with status 0 (${elapsed} s)" test $rc = 0
snoops=$(grep -c "with podscope-snoop pid" "$out/extcap.log")
check "one podscope-snoop traced the process's cgroup" test "$snoops" = 1
pds_ws_fix_owner

pds_ws_tshark -r "$PDS_WS_HOME/files.pcapng" -Y 'podscope.file.comm == "cat" || http.request' \
	-T fields -e frame.number -e frame.time_epoch -e podscope.file.syscall \
	-e podscope.file.path -e http.request.uri >"$out/events.txt" 2>/dev/null
sed 's/^/# /' "$out/events.txt" | head -20
hostname_frame=$(awk -F'\t' '$4 == "/etc/hostname" { print $1; exit }' "$out/events.txt")
request_frame=$(awk -F'\t' '$5 == "/passwd" { print $1; exit }' "$out/events.txt")
issue_frame=$(awk -F'\t' '$4 == "/etc/issue" { print $1; exit }' "$out/events.txt")
check "cat's open of /etc/hostname is a podscope.file record" test -n "$hostname_frame"
check "the HTTP request is captured" test -n "$request_frame"
check "cat's open of /etc/issue is a podscope.file record" test -n "$issue_frame"
check "file accesses and packets are in time order (${hostname_frame:-?} < ${request_frame:-?} < ${issue_frame:-?})" \
	test -n "$hostname_frame" -a -n "$request_frame" -a -n "$issue_frame" -a \
	"${hostname_frame:-0}" -lt "${request_frame:-0}" -a "${request_frame:-0}" -lt "${issue_frame:-0}"
fields=$(pds_ws_tshark -r "$PDS_WS_HOME/files.pcapng" -Y 'podscope.file.path == "/etc/hostname"' \
	-T fields -e podscope.file.pid -e podscope.file.tgid -e podscope.file.cgroup_id \
	-e podscope.file.result 2>/dev/null | head -1)
echo "# /etc/hostname: pid, tgid, cgroup id, result = $fields"
check "the record carries pid, tgid, cgroup id and result" \
	test "$(echo "$fields" | awk -F'\t' '$1 > 0 && $2 > 0 && $3 > 0 && $4 >= 0' | wc -l)" = 1
left=$(pgrep -f "podscope-snoop --cgroup $cg" | wc -l)
check "no podscope-snoop is left" test "$left" = 0

echo "1..$n"
exit $failed
