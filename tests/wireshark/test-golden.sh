#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Golden tests of the dissector: the pcapng files in tests/data/ in, the
# expected `tshark -r ... -T fields` text out (TAP).
#
#   test-golden.sh PLUGIN.so DATADIR [MAKE_GOLDEN]
#
# With MAKE_GOLDEN the generator runs again and its output must equal the
# committed pcapng files byte for byte. PDS_GOLDEN_UPDATE=1 rewrites the
# expected text files instead of comparing (review the diff before committing).
set -u

plugin="$1"
datadir="$2"
make_golden="${3:-}"
here=$(dirname "$(readlink -f "$0")")
. "$here/pds-tshark-env.sh"

if ! command -v tshark >/dev/null; then
	echo "1..0 # SKIP tshark is not installed"
	exit 77
fi

n=0
failed=0
ok() {
	n=$((n + 1))
	echo "ok $n - $1"
}
not_ok() {
	n=$((n + 1))
	failed=1
	echo "not ok $n - $1"
}

pds_ws_setup "$plugin"
trap pds_ws_cleanup EXIT
cp "$datadir"/podscope-*.pcapng "$PDS_WS_HOME/data/"
pds_ws_fix_owner
out="$PDS_WS_HOME/out"
mkdir -p "$out"

# The views: tshark arguments per view name.
view_args() {
	case "$1" in
	info)
		echo "-T fields -e frame.number -e _ws.col.Protocol -e _ws.col.Info"
		;;
	names)
		echo "-N n -T fields -e frame.number -e _ws.col.Source -e _ws.col.Destination -e _ws.col.Info"
		;;
	header)
		echo "-T fields -e frame.number -e podscope.type -e podscope.version -e podscope.length -e podscope.interface_id -e podscope.timestamp"
		;;
	file)
		echo "-Y podscope.type==1 -T fields -E occurrence=a -E aggregator=, -e frame.number" \
			"-e podscope.file.syscall -e podscope.file.path -e podscope.file.raw_path" \
			"-e podscope.file.pid -e podscope.file.tgid -e podscope.file.comm" \
			"-e podscope.file.cgroup_id -e podscope.file.container -e podscope.file.container_id" \
			"-e podscope.file.flags -e podscope.file.mode -e podscope.file.result" \
			"-e podscope.file.resolved_path -e podscope.file.path_status" \
			"-e podscope.file.path_status.from_entry -e podscope.file.path_status.interp" \
			"-e podscope.file.compat -e podscope.file.count -e podscope.file.pod -e podscope.file.namespace"
		;;
	flow)
		echo "-Y podscope.type==2 -T fields -E occurrence=a -E aggregator=, -e frame.number" \
			"-e podscope.flow.event -e podscope.flow.stream_id -e podscope.flow.src -e podscope.flow.dst" \
			"-e podscope.flow.src_ipv6 -e podscope.flow.dst_ipv6 -e podscope.flow.srcport" \
			"-e podscope.flow.dstport -e podscope.flow.ip_proto -e podscope.flow.protocol" \
			"-e podscope.flow.tcp_state -e podscope.flow.anomalies -e podscope.flow.anomalies.gap" \
			"-e podscope.flow.anomalies.retransmission -e podscope.flow.anomaly_text" \
			"-e podscope.flow.src_name -e podscope.flow.dst_name -e podscope.flow.first_packet" \
			"-e podscope.flow.time.tcp_handshake -e podscope.flow.time.tls_handshake" \
			"-e podscope.flow.time.server -e podscope.flow.time.transfer -e podscope.flow.time.total" \
			"-e podscope.flow.bytes_c2s -e podscope.flow.bytes_s2c -e podscope.flow.packets_c2s" \
			"-e podscope.flow.packets_s2c -e podscope.flow.retransmissions -e podscope.flow.gap_bytes"
		;;
	tls)
		echo "-Y podscope.flow.tls.sni -T fields -E occurrence=a -E aggregator=, -e frame.number" \
			"-e podscope.flow.tls.sni -e podscope.flow.tls.alpn_offered -e podscope.flow.tls.alpn" \
			"-e podscope.flow.tls.version -e podscope.flow.tls.cipher -e podscope.flow.tls.hrr" \
			"-e podscope.flow.tls.client_version"
		;;
	http)
		echo "-Y podscope.flow.http.method -T fields -E occurrence=a -E aggregator=| -e frame.number" \
			"-e podscope.flow.http.method -e podscope.flow.http.uri -e podscope.flow.http.version" \
			"-e podscope.flow.http.status -e podscope.flow.http.reason -e podscope.flow.http.host" \
			"-e podscope.flow.http.request_header -e podscope.flow.http.response_header" \
			"-e podscope.flow.http.request_body -e podscope.flow.http.request_body_len" \
			"-e podscope.flow.http.response_body -e podscope.flow.http.response_body_len" \
			"-e podscope.flow.http.request_index"
		;;
	source)
		echo "-Y podscope.type==3 -T fields -e frame.number -e podscope.source.role" \
			"-e podscope.source.version -e podscope.source.id -e podscope.source.namespace" \
			"-e podscope.source.pod -e podscope.source.node -e podscope.source.container" \
			"-e podscope.source.interface -e podscope.source.kernel_received" \
			"-e podscope.source.kernel_dropped -e podscope.source.if_dropped" \
			"-e podscope.source.spool_dropped -e podscope.source.spool_bytes" \
			"-e podscope.source.events_lost -e podscope.source.message -e podscope.source.drops"
		;;
	expert)
		echo "-T fields -E occurrence=a -E aggregator=| -e frame.number -e _ws.expert.severity -e _ws.expert.message"
		;;
	tree)
		echo "-O podscope"
		;;
	esac
}

check_view() {
	local pcap="$1" view="$2"
	local base expected actual
	base=$(basename "$pcap" .pcapng)
	expected="$datadir/$base.$view.txt"
	actual="$out/$base.$view.txt"
	# shellcheck disable=SC2046
	if ! pds_ws_tshark -r "$PDS_WS_HOME/data/$base.pcapng" $(view_args "$view") \
		>"$actual" 2>"$out/stderr"; then
		not_ok "$base $view: tshark failed: $(head -c 500 "$out/stderr")"
		return
	fi
	if [ "${PDS_GOLDEN_UPDATE:-0}" = 1 ]; then
		cp "$actual" "$expected"
		ok "$base $view: expected text rewritten"
		return
	fi
	if [ ! -s "$actual" ]; then
		not_ok "$base $view: tshark printed nothing"
	elif diff -u "$expected" "$actual" >"$out/diff"; then
		ok "$base $view ($(wc -l <"$actual") lines)"
	else
		sed 's/^/# /' "$out/diff" | head -60
		not_ok "$base $view differs from $expected"
	fi
}

# The plugin must be loaded, or every view below would only test its absence.
if pds_ws_tshark -G protocols 2>/dev/null | grep -q "	podscope$"; then
	ok "tshark loads the plugin from the personal folder"
else
	not_ok "tshark does not list the podscope protocol (plugin not loaded)"
fi

# Every field the dissector registers, with its type: renaming one breaks users' filters.
pds_ws_tshark -G fields 2>/dev/null | awk -F'\t' '$5 == "podscope" { print $3 "\t" $4 }' | sort >"$out/fields.txt"
if [ "${PDS_GOLDEN_UPDATE:-0}" = 1 ]; then
	cp "$out/fields.txt" "$datadir/podscope-fields.txt"
fi
if diff -u "$datadir/podscope-fields.txt" "$out/fields.txt" >"$out/diff"; then
	ok "registered fields ($(wc -l <"$out/fields.txt")) match podscope-fields.txt"
else
	sed 's/^/# /' "$out/diff" | head -40
	not_ok "registered fields differ from podscope-fields.txt"
fi

for view in info names header file flow tls http source expert tree; do
	check_view podscope-exported-pdu.pcapng "$view"
done
for view in info header file flow tls http source expert; do
	check_view podscope-custom-block.pcapng "$view"
done
for view in info file flow expert; do
	check_view podscope-big-endian.pcapng "$view"
done
for view in info header expert tree; do
	check_view podscope-malformed.pcapng "$view"
done

# Byte order and envelope must not change what the records say: the
# big-endian file holds the same records as EPBs, then as custom blocks.
if [ "${PDS_GOLDEN_UPDATE:-0}" != 1 ]; then
	for view in file flow; do
		cut -f2- "$out/podscope-exported-pdu.$view.txt" >"$out/le-epdu"
		cut -f2- "$out/podscope-custom-block.$view.txt" >"$out/le-custom"
		cat "$out/le-epdu" "$out/le-custom" >"$out/le-both"
		cut -f2- "$out/podscope-big-endian.$view.txt" >"$out/be-both"
		if [ -s "$out/le-both" ] && cmp -s "$out/le-both" "$out/be-both"; then
			ok "$view fields are the same in both byte orders and both envelopes"
		else
			diff -u "$out/le-both" "$out/be-both" | sed 's/^/# /' | head -20
			not_ok "$view fields differ between byte orders or envelopes"
		fi
	done
fi

if [ -n "$make_golden" ]; then
	mkdir -p "$out/regen"
	if "$make_golden" "$out/regen" >/dev/null; then
		for f in "$out"/regen/*.pcapng; do
			name=$(basename "$f")
			if cmp -s "$f" "$datadir/$name"; then
				ok "make-golden reproduces $name"
			else
				not_ok "make-golden output differs from $datadir/$name (regenerate and review)"
			fi
		done
	else
		not_ok "make-golden failed"
	fi
fi

echo "1..$n"
exit $failed
