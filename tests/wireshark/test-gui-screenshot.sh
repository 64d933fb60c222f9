#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Screenshots of Debian's Wireshark (Qt) under Xvfb, run by an unprivileged
# user with the PodScope extcap and plugin in its personal folders (TAP):
#   start.png    - the start page listing the PodScope interfaces;
#   capture.png  - a capture made through the extcap, with decoded PodScope rows.
# The pictures are kept in OUTDIR as test artefacts.
#
#   test-gui-screenshot.sh PODSCOPE PLUGIN.so OUTDIR
set -u

podscope="$1"
plugin="$2"
outdir="$3"
here=$(dirname "$(readlink -f "$0")")
. "$here/pds-tshark-env.sh"

for prog in wireshark Xvfb import xdotool convert tshark; do
	if ! command -v "$prog" >/dev/null; then
		echo "1..0 # SKIP $prog is not installed (Debian: wireshark-qt xvfb imagemagick xdotool)"
		exit 77
	fi
done
if [ "$(id -u)" != 0 ]; then
	echo "1..0 # SKIP needs root to make the network namespaces of the capture"
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

display=":$((100 + $$ % 800))"
ns_client="pdswga$$"
ns_server="pdswgb$$"
xvfb_pid=""
gui_pid=""
server_pid=""
srvdir=""
cleanup() {
	for pid in $gui_pid $server_pid $xvfb_pid; do
		kill "$pid" 2>/dev/null
	done
	wait 2>/dev/null
	ip netns del "$ns_client" 2>/dev/null
	ip netns del "$ns_server" 2>/dev/null
	[ -n "$srvdir" ] && rm -rf "$srvdir"
	pds_ws_cleanup
}
trap cleanup EXIT
mkdir -p "$outdir"

# A capture through the extcap: HTTP between two namespaces, the extcap writing to a fifo.
ip netns add "$ns_client"
ip netns add "$ns_server"
ip link add "pdsg$$a" type veth peer name "pdsg$$b"
ip link set "pdsg$$a" netns "$ns_client"
ip link set "pdsg$$b" netns "$ns_server"
ip -n "$ns_client" addr add 10.235.0.1/24 dev "pdsg$$a"
ip -n "$ns_server" addr add 10.235.0.2/24 dev "pdsg$$b"
ip -n "$ns_client" link set "pdsg$$a" up
ip -n "$ns_server" link set "pdsg$$b" up
srvdir=$(mktemp -d /tmp/pds-ws-www.XXXXXX)
echo '<html>PodScope</html>' >"$srvdir/index.html"
ip netns exec "$ns_server" python3 -m http.server 8080 --bind 10.235.0.2 --directory "$srvdir" \
	>/dev/null 2>&1 &
server_pid=$!

pds_ws_setup "$plugin"
mkdir -p "$PDS_WS_CONFIG_DIR/extcap"
ln -s "$(readlink -f "$podscope")" "$PDS_WS_CONFIG_DIR/extcap/podscope"
fifo="$PDS_WS_HOME/fifo"
mkfifo "$fifo"
cat "$fifo" >"$PDS_WS_HOME/data/capture.pcapng" &
reader=$!
"$podscope" --capture --extcap-interface podscope-local --fifo "$fifo" \
	--netns "$ns_client" --log-file "$PDS_WS_HOME/extcap.log" &
extcap=$!
sleep 3
for page in index.html missing.html index.html; do
	ip netns exec "$ns_client" curl -s -o /dev/null --retry 5 --retry-connrefused \
		"http://10.235.0.2:8080/$page"
	sleep 0.5
done
sleep 2
kill -TERM "$extcap"
wait "$extcap"
wait "$reader"
pds_ws_fix_owner
rows=$(pds_ws_tshark -r "$PDS_WS_HOME/data/capture.pcapng" -Y podscope 2>/dev/null | wc -l)
check "the capture through the extcap holds PodScope records ($rows)" test "$rows" -ge 1
first_flow=$(pds_ws_tshark -r "$PDS_WS_HOME/data/capture.pcapng" -Y "podscope.type == 2" \
	-T fields -e frame.number 2>/dev/null | head -1)
first_flow=${first_flow:-1}

# Only the PodScope interfaces on the start page: hide the machine's own.
hide=$(pds_ws_tshark -D 2>/dev/null | sed -n 's/^[0-9]*\. \([^ ]*\).*/\1/p' | grep -v '^podscope' |
	paste -sd, -)
printf 'capture.devices_hide: %s\ngui.update.enabled: FALSE\n' "$hide" \
	>"$PDS_WS_CONFIG_DIR/preferences"
pds_ws_fix_owner

Xvfb "$display" -screen 0 1280x800x24 -nolisten tcp >/dev/null 2>&1 &
xvfb_pid=$!
sleep 2

# shellcheck disable=SC2317
gui() {
	pds_ws_run env DISPLAY="$display" XDG_RUNTIME_DIR="$PDS_WS_HOME" wireshark "$@" \
		>>"$PDS_WS_HOME/gui.log" 2>&1 &
	gui_pid=$!
	local win=""
	for _ in $(seq 1 60); do
		win=$(DISPLAY="$display" xdotool search --onlyvisible --name "Wireshark" 2>/dev/null |
			tail -1)
		[ -n "$win" ] && break
		sleep 0.5
	done
	if [ -n "$win" ]; then
		DISPLAY="$display" xdotool windowmove "$win" 0 0 windowsize "$win" 1280 800
	fi
	sleep 6
}
stop_gui() {
	# pds_ws_run's job is the wireshark process itself (setpriv and env exec it).
	local pid
	pid=$(pgrep -P "$gui_pid" | head -1)
	kill "${pid:-$gui_pid}" "$gui_pid" 2>/dev/null
	wait "$gui_pid" 2>/dev/null
	gui_pid=""
}
not_blank() {
	local sd
	sd=$(convert "$1" -format '%[fx:standard_deviation]' info: 2>/dev/null)
	echo "# $1: standard deviation $sd"
	[ -n "$sd" ] && [ "$(echo "$sd > 0.05" | bc)" = 1 ]
}

gui
DISPLAY="$display" import -window root "$outdir/start.png"
stop_gui
check "start page screenshot ($outdir/start.png)" not_blank "$outdir/start.png"

gui -r "$PDS_WS_HOME/data/capture.pcapng" -Y "podscope || http" -g "$first_flow"
# Open the selected record's tree: click its line in the details pane (the
# third, under Frame and EXPORTED_PDU) and open it one level (Right).
DISPLAY="$display" xdotool mousemove 120 479 click 1 sleep 0.5 key Right 2>/dev/null
sleep 1
DISPLAY="$display" import -window root "$outdir/capture.png"
stop_gui
check "capture screenshot with PodScope rows ($outdir/capture.png)" not_blank "$outdir/capture.png"
cp "$PDS_WS_HOME/data/capture.pcapng" "$outdir/capture.pcapng"

echo "1..$n"
exit $failed
