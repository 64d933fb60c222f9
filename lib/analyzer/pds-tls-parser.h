/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Incremental TLS handshake reader for one TCP connection, both directions:
 * records split across segments, several handshake messages per record, a
 * message split across records. Only ClientHello and ServerHello are kept
 * (bounded); everything else is skipped by length.
 *
 * Handshake completion, which the record layer does not show directly:
 *  - TLS 1.2 and older: both sides have sent ChangeCipherSpec followed by
 *    their (encrypted) Finished; the time is that of the later Finished.
 *  - TLS 1.3: the client's first encrypted record after the ServerHello,
 *    which is its Finished (TLS 1.3 hides message types; the client sends
 *    nothing encrypted before its Finished unless it uses 0-RTT, which a
 *    ClientHello with early data would show and we do not special-case).
 * Application data bytes are the payload of application_data records after
 * completion (in TLS 1.3, the server's encrypted handshake flight and the
 * client's Finished are not counted).
 */
#pragma once

#include <glib.h>

#include "pds-analyzer-mem.h"

G_BEGIN_DECLS

#define PDS_TLS_MAX_ALPN     8
#define PDS_TLS_MAX_VERSIONS 16

typedef struct {
	gboolean client_hello;
	gboolean server_hello;
	gboolean hrr;
	gboolean done;
	guint64 ts_client_hello; /* first ClientHello */
	guint64 ts_done;
	char sni[256]; /* empty when absent */
	char alpn_offered[PDS_TLS_MAX_ALPN][64];
	guint n_alpn_offered;
	char alpn[64];
	guint16 client_versions[PDS_TLS_MAX_VERSIONS];
	guint n_client_versions;
	guint16 version; /* negotiated */
	guint16 cipher;
	guint64 encrypted_bytes[2]; /* per direction: 0 client, 1 server */
} PdsTlsHandshakeInfo;

typedef void (*PdsTlsHandshakeFunc)(const PdsTlsHandshakeInfo *info, gpointer user_data);

typedef struct _PdsTlsParser PdsTlsParser;

PdsTlsParser *pds_tls_parser_new(PdsFlowMem *mem, PdsTlsHandshakeFunc func, gpointer user_data);
void pds_tls_parser_free(PdsTlsParser *conn);
/* dir 0 = client to server, 1 = server to client. */
void pds_tls_parser_data(PdsTlsParser *conn, guint dir, const guint8 *data, gsize len, guint64 ts);
void pds_tls_parser_gap(PdsTlsParser *conn, guint dir, guint64 len);
const PdsTlsHandshakeInfo *pds_tls_parser_get_info(const PdsTlsParser *conn);
guint32 pds_tls_parser_get_anomalies(const PdsTlsParser *conn, const char **text);

/*
 * The capture started inside the connection: each direction waits for a
 * segment that begins with a record header before it reads anything.
 */
void pds_tls_parser_set_midstream(PdsTlsParser *conn);

/* First bytes of a stream: 1 = a TLS handshake record, 0 = not, -1 = need more. */
int pds_tls_sniff(const guint8 *data, gsize len);
/* Bytes at a segment start: 1 = a plausible TLS record header of any type, 0 = not, -1 = short. */
int pds_tls_sniff_record(const guint8 *data, gsize len);

G_END_DECLS
