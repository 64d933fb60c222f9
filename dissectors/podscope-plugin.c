/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Plugin entry points. Wireshark loads a plugin only when the version it was
 * built against matches its own major.minor, so these numbers come from the
 * headers we compiled with.
 */
#include "config.h"

#define G_LOG_DOMAIN "PdsDissector"

#include <epan/packet.h>
#include <epan/proto.h>
#include <ws_symbol_export.h>
#include <ws_version.h>

#include "podscope.h"

WS_DLL_PUBLIC_DEF const gchar plugin_version[] = PACKAGE_VERSION;
WS_DLL_PUBLIC_DEF const int plugin_want_major = WIRESHARK_VERSION_MAJOR;
WS_DLL_PUBLIC_DEF const int plugin_want_minor = WIRESHARK_VERSION_MINOR;

WS_DLL_PUBLIC void plugin_register(void);

void
plugin_register(void)
{
	static proto_plugin plugin;

	plugin.register_protoinfo = proto_register_podscope;
	plugin.register_handoff = proto_reg_handoff_podscope;
	proto_register_plugin(&plugin);
}
