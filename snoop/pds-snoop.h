/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The podscope-snoop daemon: ties the tracer, container discovery, the
 * report, the metrics server and the hub stream to one GLib main loop.
 */
#pragma once

#include <glib.h>

#include "pds-snoop-config.h"

G_BEGIN_DECLS

typedef struct _PdsSnoop PdsSnoop;

/* Resolves the cgroups, loads the probes and starts every output. */
PdsSnoop *pds_snoop_new(PdsSnoopConfig *config, GError **error);
void pds_snoop_free(PdsSnoop *snoop);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PdsSnoop, pds_snoop_free)

/* Runs until SIGTERM/SIGINT, then drains, writes the report and returns. */
int pds_snoop_run(PdsSnoop *snoop);

G_END_DECLS
