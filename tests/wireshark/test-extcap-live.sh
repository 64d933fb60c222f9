#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A live capture through the extcap, as a Wireshark user does it (TAP):
# tshark, run by an unprivileged user, starts "podscope-local" on a network
# namespace where HTTP requests are made.
#
# An unprivileged user cannot enter a network namespace or capture. What
# Debian does for dumpcap, PodScope does on request: "podscope
# install-wireshark --capabilities GROUP" gives podscope and podscope-agent
# file capabilities (cap_net_raw,cap_net_admin,cap_sys_admin,cap_sys_ptrace+ep) and lets only
# GROUP run them. The test does exactly that, as root, on copies of the
# programs (so the build tree keeps its plain files), with GROUP = the test
# user's group; the user's extcap folder gets a script that runs the copy.
#
#   test-extcap-live.sh PODSCOPE PODSCOPE_AGENT PODSCOPE_HUB PODSCOPE_SNOOP PLUGIN.so
set -u

podscope="$1"
agent="$2"
hub="$3"
snoop="$4"
plugin="$5"
here=$(dirname "$(readlink -f "$0")")
. "$here/pds-tshark-env.sh"

if [ "$(id -u)" != 0 ]; then
	echo "1..0 # SKIP needs root to make network namespaces and grant capabilities"
	exit 77
fi
for prog in tshark setcap ip python3 curl ss; do
	if ! command -v "$prog" >/dev/null; then
		echo "1..0 # SKIP $prog is not installed"
		exit 77
	fi
done

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
show() {
	sed 's/^/# /' "$1" | head -${2:-30}
}

ns_client="pdswsa$$"
ns_server="pdswsb$$"
veth="pdsw$$"
server_pid=""
client_pid=""
tshark_pid=""

cleanup() {
	for pid in $client_pid $tshark_pid $server_pid; do
		kill "$pid" 2>/dev/null
	done
	wait 2>/dev/null
	ip netns del "$ns_client" 2>/dev/null
	ip netns del "$ns_server" 2>/dev/null
	pds_ws_cleanup
	rm -rf "${bindir_root:-/nonexistent}"
}
trap cleanup EXIT

# Two namespaces joined by a veth pair; an HTTP server in one.
ip netns add "$ns_client"
ip netns add "$ns_server"
ip link add "${veth}a" type veth peer name "${veth}b"
ip link set "${veth}a" netns "$ns_client"
ip link set "${veth}b" netns "$ns_server"
ip -n "$ns_client" addr add 10.233.0.1/24 dev "${veth}a"
ip -n "$ns_server" addr add 10.233.0.2/24 dev "${veth}b"
for ns in "$ns_client" "$ns_server"; do
	ip -n "$ns" link set lo up
done
ip -n "$ns_client" link set "${veth}a" up
ip -n "$ns_server" link set "${veth}b" up
srvdir=$(mktemp -d /tmp/pds-ws-www.XXXXXX)
for i in $(seq 1 40); do echo "page $i" >"$srvdir/live-$i"; done
ip netns exec "$ns_server" python3 -m http.server 8080 --bind 10.233.0.2 --directory "$srvdir" \
	>/dev/null 2>&1 &
server_pid=$!
for _ in $(seq 1 50); do
	ip netns exec "$ns_client" curl -s -o /dev/null http://10.233.0.2:8080/live-1 && break
	sleep 0.1
done

# The programs with capabilities, runnable by the test user's group only.
bindir_root=$(mktemp -d /tmp/pds-ws-bin.XXXXXX)
chmod 755 "$bindir_root"
bindir="$bindir_root/bin"
mkdir -p "$bindir"
cp "$podscope" "$agent" "$hub" "$snoop" "$bindir/"
chmod 755 "$bindir/podscope-hub"
group=$(getent group "$PDS_WS_GID" | cut -d: -f1)
HOME="$bindir_root" WIRESHARK_CONFIG_DIR="$bindir_root/cfg" \
	PODSCOPE_AGENT_BIN="$bindir/podscope-agent" PODSCOPE_SNOOP_BIN="$bindir/podscope-snoop" \
	"$bindir/podscope" install-wireshark --no-plugin --wireshark-version 4.0 \
	--capabilities "$group" >"$bindir_root/caps.txt" 2>&1
rc=$?
show "$bindir_root/caps.txt"
check "install-wireshark --capabilities $group grants the capabilities" \
	test $rc = 0 -a -n "$(getcap "$bindir/podscope" | grep cap_sys_admin)" \
	-a -n "$(getcap "$bindir/podscope-agent" | grep cap_net_raw)" \
	-a -n "$(getcap "$bindir/podscope-snoop" | grep cap_bpf)" \
	-a "$(stat -c %a:%G "$bindir/podscope")" = "750:$group"

pds_ws_setup "$plugin"
mkdir -p "$PDS_WS_CONFIG_DIR/extcap"
cat >"$PDS_WS_CONFIG_DIR/extcap/podscope" <<EOF
#!/bin/sh
PODSCOPE_HUB_BIN=$bindir/podscope-hub PODSCOPE_AGENT_BIN=$bindir/podscope-agent PODSCOPE_SNOOP_BIN=$bindir/podscope-snoop exec $bindir/podscope "\$@"
EOF
chmod 755 "$PDS_WS_CONFIG_DIR/extcap/podscope"
pds_ws_fix_owner
out="$PDS_WS_HOME/out"
mkdir -p "$out"

# HTTP requests while tshark captures through the extcap for 12 seconds.
(
	for i in $(seq 2 40); do
		ip netns exec "$ns_client" curl -s -o /dev/null "http://10.233.0.2:8080/live-$i"
		echo "/live-$i"
		sleep 0.3
	done
) >"$out/requested.txt" &
client_pid=$!
pds_ws_tshark -i podscope-local -o "extcap.podscope_local.netns:$ns_client" \
	-f "tcp port 8080" -a duration:12 -w "$PDS_WS_HOME/live.pcapng" >"$out/live.txt" 2>&1
rc=$?
wait "$client_pid"
client_pid=""
show "$out/live.txt"
check "tshark -i podscope-local -a duration:12 ends normally" test $rc = 0

pds_ws_tshark -r "$PDS_WS_HOME/live.pcapng" -Y http.request -T fields -e http.request.uri \
	>"$out/uris.txt" 2>"$out/uris.err"
show "$out/uris.err"
captured=$(wc -l <"$out/uris.txt")
unknown=$(grep -cvxF -f "$out/requested.txt" "$out/uris.txt")
echo "# $captured HTTP requests captured of $(wc -l <"$out/requested.txt") made"
# Requests made before the agents came up or after tshark stopped are not in the
# file; every one made while the capture ran must be: no gap in the sequence.
span=$(sed -n 's|^/live-||p' "$out/uris.txt" | sort -n | sed -n '1p;$p' | paste -sd' ' |
	awk '{ print $2 - $1 + 1 }')
distinct=$(sort -u "$out/uris.txt" | wc -l)
check "the capture holds every HTTP request made while it ran ($distinct, no gap)" \
	test "$distinct" -ge 10 -a "$unknown" = 0 -a "$span" = "$distinct"
pds_ws_tshark -r "$PDS_WS_HOME/live.pcapng" -N n -Y http.request -T fields -e _ws.col.Source \
	| sort -u >"$out/names.txt"
show "$out/names.txt"
check "with -N n the client shows as its namespace name (from the NRB)" \
	test "$(cat "$out/names.txt")" = "$ns_client"
other=$(pds_ws_tshark -r "$PDS_WS_HOME/live.pcapng" -Y "eth && !(tcp.port == 8080)" | wc -l)
check "the capture filter reached the agents: no other packets ($other)" test "$other" = 0
pds_ws_tshark -r "$PDS_WS_HOME/live.pcapng" -Y podscope -T fields -e podscope.type \
	-e podscope.source.role -e podscope.source.interface >"$out/records.txt" 2>/dev/null
show "$out/records.txt" 5
check "PodScope records arrive as Exported PDUs and are decoded" \
	grep -q "^3	agent	" "$out/records.txt"

# File accesses, as the unprivileged user: the tapped process is given by PID,
# its cgroup is traced by the (capable) podscope-snoop copy.
cgroot=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
if [ -n "$cgroot" ]; then
	cg="$cgroot/pdswl$$"
	mkdir "$cg"
	ip netns exec "$ns_client" sleep 600 &
	sleeper=$!
	echo "$sleeper" >"$cg/cgroup.procs"
	(
		sleep 6
		ip netns exec "$ns_client" sh -c 'sleep 0.3; cat /etc/hostname >/dev/null' &
		echo $! >"$cg/cgroup.procs"
		wait
	) &
	workload=$!
	pds_ws_tshark -i podscope-local -o "extcap.podscope_local.netns:" \
		-o "extcap.podscope_local.pid:$sleeper" -o "extcap.podscope_local.includefiles:true" \
		-a duration:10 -w "$PDS_WS_HOME/files.pcapng" >"$out/files.txt" 2>&1
	wait "$workload"
	kill "$sleeper"
	wait "$sleeper" 2>/dev/null
	rmdir "$cg"
	show "$out/files.txt" 8
	opened=$(pds_ws_tshark -r "$PDS_WS_HOME/files.pcapng" \
		-Y 'podscope.file.path == "/etc/hostname" && podscope.file.comm == "cat"' | wc -l)
	check "include file accesses: cat's open of /etc/hostname is in the capture ($opened)" \
		test "$opened" -ge 1
fi

# SIGTERM to the extcap during a capture: it stops within 25 s and leaves nothing.
marker="$out/marker"
touch "$marker"
pds_ws_tshark -i podscope-local -o "extcap.podscope_local.netns:$ns_client" \
	-w "$PDS_WS_HOME/term.pcapng" >"$out/term.txt" 2>&1 &
job=$!
extcap_pid=""
children=""
for _ in $(seq 1 100); do
	# setpriv and env exec tshark: it is the job's only child.
	tshark_pid=$(pgrep -P "$job" | head -1)
	# The extcap is the one process running our copy of podscope.
	for exe in /proc/[0-9]*/exe; do
		if [ "$(readlink "$exe" 2>/dev/null)" = "$bindir/podscope" ]; then
			pid=${exe#/proc/}
			extcap_pid=${pid%/exe}
		fi
	done
	if [ -n "$extcap_pid" ]; then
		children=$(pgrep -P "$extcap_pid" | tr '\n' ' ')
		# the hub and one agent, and the capture file growing
		if [ "$(echo $children | wc -w)" -ge 2 ] && [ -s "$PDS_WS_HOME/term.pcapng" ]; then
			break
		fi
	fi
	sleep 0.2
done
echo "# extcap pid ${extcap_pid:-none}, its children: ${children:-none}"
check "the extcap runs with a hub and an agent" test -n "$extcap_pid" -a -n "$children"
listeners_before=$(ss -ltnpH | grep -c "pid=\(${children// /\\|}\)," || true)
echo "# listening sockets of those children: $listeners_before"
start=$(date +%s.%N)
if [ -n "$extcap_pid" ]; then
	kill -TERM "$extcap_pid"
	for _ in $(seq 1 300); do
		[ -d "/proc/$extcap_pid" ] || break
		sleep 0.1
	done
fi
elapsed=$(echo "$(date +%s.%N) - $start" | bc)
echo "# the extcap exited ${elapsed} s after SIGTERM"
check "the extcap exits within 25 s of SIGTERM" \
	test -n "$extcap_pid" -a ! -d "/proc/${extcap_pid:-0}" -a "$(echo "$elapsed < 25" | bc)" = 1
left=""
for pid in $children; do
	[ -d "/proc/$pid" ] && left="$left $pid"
done
check "no hub or agent process is left (${left:-none})" test -z "$left"
listeners=$(ss -ltnpH | grep -c "pid=\(${children// /\\|}\)," || true)
check "no listener of the session is left ($listeners)" test "$listeners" = 0 -a "$listeners_before" -ge 1
# Other tests make and remove namespaces meanwhile: look at ours and at session names.
ns_after=$(ip netns list | cut -d' ' -f1)
check "the tapped namespaces are intact and no session namespace is left" \
	test -n "$(echo "$ns_after" | grep -x "$ns_client")" \
	-a -n "$(echo "$ns_after" | grep -x "$ns_server")" \
	-a -z "$(echo "$ns_after" | grep '^podscope')"
tmpdirs=$(find /tmp -maxdepth 1 -name 'podscope-*' -user "$PDS_WS_UID" -newer "$marker" | wc -l)
check "the session's temporary directory is gone ($tmpdirs left)" test "$tmpdirs" = 0
if [ -n "$tshark_pid" ]; then
	kill -INT "$tshark_pid" 2>/dev/null
fi
wait "$job"
tshark_pid=""
show "$out/term.txt" 10
count=$(pds_ws_tshark -r "$PDS_WS_HOME/term.pcapng" 2>/dev/null | wc -l)
check "the capture cut by SIGTERM is readable ($count packets)" test "$count" -ge 1

rm -rf "$srvdir"
echo "1..$n"
exit $failed
