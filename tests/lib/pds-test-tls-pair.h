/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Two ends of a TLS connection over a socket pair, for tests: the sockets,
 * and both handshakes driven to their end in one thread, each side's
 * outcome kept (a side that fails closes, so the other sees the end).
 */
#pragma once

#include <gio/gio.h>

#include "pds-tls.h"

G_BEGIN_DECLS

typedef struct {
	PdsTlsConn *server;
	PdsTlsConn *client;
	gboolean server_done;
	gboolean client_done;
	GError *server_error; /* why the server's handshake failed, or NULL */
	GError *client_error;
} PdsTestTlsPair;

/* Two connected stream sockets (AF_UNIX). */
void pds_test_tls_pair_sockets(GSocket **a, GSocket **b);
/* Runs both handshakes until each has succeeded or failed; asserts it takes under 10 s. */
void pds_test_tls_pair_handshake(PdsTestTlsPair *pair);
/* Frees both ends and the errors; the pair can be used again. */
void pds_test_tls_pair_clear(PdsTestTlsPair *pair);

G_END_DECLS
