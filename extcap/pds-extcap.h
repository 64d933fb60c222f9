/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * podscope as a Wireshark extcap (the protocol of Wireshark 4.0 and later):
 * entered when argv holds --extcap-* options and no subcommand.
 *
 * Interfaces: "podscope" (Kubernetes), "podscope-local" (local network
 * namespaces and processes), "podscope-hub" (a running hub). Stdout carries
 * only extcap sentences; diagnostics go to --log-file.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The extcap interface names, as Wireshark lists them and names their preferences. */
#define PDS_EXTCAP_IFACE_K8S   "podscope"
#define PDS_EXTCAP_IFACE_LOCAL "podscope-local"
#define PDS_EXTCAP_IFACE_HUB   "podscope-hub"

int pds_extcap_main(int argc, char **argv);

/*
 * Compiles @filter for Ethernet with libpcap (no device needed). NULL or ""
 * is valid. On failure @error holds libpcap's message.
 */
gboolean pds_extcap_check_filter(const char *filter, GError **error);

G_END_DECLS
