#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# What a Wireshark user meets (TAP): "podscope install-wireshark" run by an
# unprivileged user, then tshark -D, the interfaces' preferences, the
# Kubernetes interface's message, the missing-capabilities message, and
# "podscope uninstall-wireshark".
#
#   test-extcap-tshark.sh PODSCOPE PLUGIN.so
set -u

podscope="$1"
plugin="$2"
here=$(dirname "$(readlink -f "$0")")
. "$here/pds-tshark-env.sh"

if ! command -v tshark >/dev/null; then
	echo "1..0 # SKIP tshark is not installed"
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
show() {
	sed 's/^/# /' "$1" | head -30
}

pds_ws_setup ""
trap pds_ws_cleanup EXIT
out="$PDS_WS_HOME/out"
mkdir -p "$out"
pds_ws_fix_owner

# The user installs into their own folders; the plugin is found in the build tree.
pds_ws_run env PODSCOPE_WIRESHARK_PLUGIN="$plugin" "$podscope" install-wireshark \
	>"$out/install.txt" 2>&1
rc=$?
show "$out/install.txt"
extcap_link="$PDS_WS_CONFIG_DIR/extcap/podscope"
installed_plugin="$PDS_WS_HOME/.local/lib/wireshark/plugins/$PDS_WS_VERSION/epan/podscope.so"
check "install-wireshark succeeds and says where" \
	test $rc = 0 -a -n "$(grep -F "$extcap_link" "$out/install.txt")" \
	-a -n "$(grep -F "$installed_plugin" "$out/install.txt")"
check "the extcap is a link to podscope in \$WIRESHARK_CONFIG_DIR/extcap" \
	test -L "$extcap_link" -a "$(readlink "$extcap_link")" = "$(readlink -f "$podscope")"
check "the plugin is in the personal plugin folder" cmp -s "$plugin" "$installed_plugin"

pds_ws_tshark -D >"$out/D.txt" 2>"$out/D.err"
show "$out/D.txt"
for iface in "podscope (PodScope: Kubernetes pods)" \
	"podscope-local (PodScope: local network namespaces)" \
	"podscope-hub (PodScope: running hub)"; do
	check "tshark -D lists $iface" grep -qF ". $iface" "$out/D.txt"
done

# Every extcap option becomes a preference that -o can set.
pds_ws_tshark -G currentprefs >"$out/prefs.txt" 2>/dev/null
for pref in extcap.podscope.kubeconfig extcap.podscope.context extcap.podscope.namespace \
	extcap.podscope.selector extcap.podscope.podregex extcap.podscope.includefiles \
	extcap.podscope.forceprivileged extcap.podscope.agentimage \
	extcap.podscope_local.netns extcap.podscope_local.pid extcap.podscope_local.interfacename \
	extcap.podscope_local.includefiles \
	extcap.podscope_hub.url extcap.podscope_hub.token; do
	check "preference $pref exists" grep -q "^#\?$pref:" "$out/prefs.txt"
done
check "the namespace default is 'default'" grep -q "^#extcap.podscope.namespace: default$" \
	"$out/prefs.txt"

# The Kubernetes interface with no cluster configured: the user reads why it cannot start.
pds_ws_tshark -i podscope -a duration:5 -w "$PDS_WS_HOME/k8s.pcapng" >"$out/k8s.txt" 2>&1
show "$out/k8s.txt"
check "tshark -i podscope without a kubeconfig says which file it could not read" \
	grep -q "cannot read kubeconfig.*$PDS_WS_HOME/.kube/config" "$out/k8s.txt"

# An unprivileged user without the opt-in capabilities: told exactly what is missing.
if [ "$(id -u)" = 0 ]; then
	ns="pdswsc$$"
	ip netns add "$ns"
	pds_ws_tshark -i podscope-local -o "extcap.podscope_local.netns:$ns" -a duration:5 \
		-w "$PDS_WS_HOME/local.pcapng" >"$out/local.txt" 2>&1
	ip netns del "$ns"
	show "$out/local.txt"
	check "podscope-local without capabilities names them and how to grant them" \
		grep -q "CAP_SYS_ADMIN.*install-wireshark --capabilities" "$out/local.txt"
fi

pds_ws_run "$podscope" uninstall-wireshark >"$out/uninstall.txt" 2>&1
rc=$?
show "$out/uninstall.txt"
check "uninstall-wireshark removes the link and the plugin" \
	test $rc = 0 -a ! -e "$extcap_link" -a ! -e "$installed_plugin"
pds_ws_tshark -D >"$out/D2.txt" 2>/dev/null
# After `meson install` (the quick start does it) Wireshark's global extcap folder has
# podscope too, and tshark keeps listing that one: only then is this check moot.
global_extcap=$(pkg-config --variable=extcap_dir wireshark 2>/dev/null)
[ -n "$global_extcap" ] || global_extcap=$(pkg-config --variable=libdir wireshark)/wireshark/extcap
if [ -e "$global_extcap/podscope" ]; then
	n=$((n + 1))
	echo "ok $n - tshark -D no longer lists podscope interfaces # SKIP podscope is installed system-wide in $global_extcap"
else
	check "tshark -D no longer lists podscope interfaces" sh -c "! grep -q podscope '$out/D2.txt'"
fi

echo "1..$n"
exit $failed
