# SPDX-License-Identifier: LGPL-2.1-or-later
# Sourced by the Wireshark tests: runs tshark the way a user would, with our
# plugin (and extcap) in a throw-away personal folder.
#
# As root tshark ignores personal plugin and extcap folders, so when we are
# root every tshark runs as nobody (65534) through setpriv, with HOME and
# WIRESHARK_CONFIG_DIR in a fresh directory that user owns. Files it reads
# are copied into that directory.

PDS_WS_UID=65534
PDS_WS_GID=65534

# pds_ws_setup PLUGIN_SO: makes $PDS_WS_HOME with the plugin installed.
pds_ws_setup() {
	local plugin="$1"
	local ver
	PDS_WS_HOME=$(mktemp -d /tmp/pds-ws-test.XXXXXX)
	chmod 755 "$PDS_WS_HOME"
	ver=$(tshark --version 2>/dev/null | sed -n '1s/^TShark (Wireshark) \([0-9]*\.[0-9]*\)\..*/\1/p')
	PDS_WS_VERSION="$ver"
	PDS_WS_PLUGIN_DIR="$PDS_WS_HOME/.local/lib/wireshark/plugins/$ver/epan"
	PDS_WS_CONFIG_DIR="$PDS_WS_HOME/.config/wireshark"
	mkdir -p "$PDS_WS_PLUGIN_DIR" "$PDS_WS_CONFIG_DIR" "$PDS_WS_HOME/data"
	if [ -n "$plugin" ]; then
		cp "$plugin" "$PDS_WS_PLUGIN_DIR/"
	fi
	pds_ws_fix_owner
}

pds_ws_fix_owner() {
	if [ "$(id -u)" = 0 ]; then
		chown -R "$PDS_WS_UID:$PDS_WS_GID" "$PDS_WS_HOME"
	fi
}

pds_ws_cleanup() {
	if [ -n "${PDS_WS_HOME:-}" ] && [ -d "$PDS_WS_HOME" ]; then
		rm -rf "$PDS_WS_HOME"
	fi
}

# pds_ws_run CMD ARGS...: runs CMD as the test user with the throw-away folders.
pds_ws_run() {
	if [ "$(id -u)" = 0 ]; then
		setpriv --reuid="$PDS_WS_UID" --regid="$PDS_WS_GID" --clear-groups \
			env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$PDS_WS_HOME" \
			WIRESHARK_CONFIG_DIR="$PDS_WS_CONFIG_DIR" TZ=UTC LC_ALL=C.UTF-8 "$@"
	else
		env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$PDS_WS_HOME" \
			WIRESHARK_CONFIG_DIR="$PDS_WS_CONFIG_DIR" TZ=UTC LC_ALL=C.UTF-8 "$@"
	fi
}

pds_ws_tshark() {
	pds_ws_run tshark "$@"
}
