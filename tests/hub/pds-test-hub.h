/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The real podscope-hub as a child process of a C test: started on port 0
 * (or a given ingest port, to come back where it was), ready when it has
 * written its ready file, killed with SIGKILL or stopped with SIGTERM; its
 * output goes to hub.log in the test's directory.
 */
#pragma once

#include <gio/gio.h>

#include "pds-tls.h"

G_BEGIN_DECLS

/* The hub binary of this build ($PODSCOPE_HUB_BIN overrides). */
gchar *pds_test_hub_binary(void);

/*
 * Starts the hub with @args (NULL-terminated, after the binary; without
 * --ready-file, which this adds) logging to @dir/hub.log, and waits until
 * it is ready; asserts that it did not exit first and that the pid it
 * reports is the child's. Returns the process; the ports it listens on go
 * to @ingest_port and @api_port.
 */
GSubprocess *pds_test_hub_spawn(const char *dir,
				const char *const *args,
				guint16 *ingest_port,
				guint16 *api_port);
/* SIGKILL, as a crash would; waits for it. */
void pds_test_hub_kill9(GSubprocess **hub);
/* SIGTERM, a clean stop; waits for it. Nothing when *@hub is NULL. */
void pds_test_hub_stop(GSubprocess **hub);
/*
 * A session CA named @ca_name and a server certificate for "podscope-hub"
 * and 127.0.0.1, saved as @dir/ca.crt, @dir/ca.key and @dir/@server_file.crt
 * and .key; returns the CA.
 */
PdsTlsIdentity *
pds_test_hub_make_credentials(const char *dir, const char *ca_name, const char *server_file);
/* Removes the test's work directory, or keeps it (and says where) when the
 * test failed; frees *@dir. */
void pds_test_hub_remove_dir(gchar **dir);
/* What the hub wrote to @dir/hub.log so far. */
gchar *pds_test_hub_log(const char *dir);

G_END_DECLS
