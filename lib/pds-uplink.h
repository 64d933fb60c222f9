/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The source side of the ingest wire, shared by podscope-agent and
 * podscope-snoop: a mutual-TLS connection to the hub carrying one pcapng
 * stream, with a bounded spool of unacknowledged blocks, heartbeats,
 * reconnection with backoff, and a grace period after which the source gives up.
 *
 * The protocol (README, "The wire"): on connect the source sends its SHB and
 * IDBs; the hub answers with its SHB and a CONTROL HELLO naming the last data
 * block it stored for this source id; the source drops spooled blocks up to
 * that sequence, sends CONTROL START with the next sequence and then its data
 * blocks in order. The hub acknowledges with CONTROL ACK once blocks are
 * written; acknowledged blocks leave the spool.
 */
#pragma once

#include <gio/gio.h>

#include "pds-pcapng-reader.h"
#include "pds-pcapng-writer.h"
#include "pds-record-codec.h"
#include "pds-tls.h"

G_BEGIN_DECLS

#define PDS_TYPE_UPLINK (pds_uplink_get_type())
G_DECLARE_FINAL_TYPE(PdsUplink, pds_uplink, PDS, UPLINK, GObject)

typedef struct {
	gchar *hub_host;	  /* host or IP literal */
	guint16 hub_port;	  /* default 7443 */
	gchar *server_name;	  /* expected in the hub certificate; default "podscope-hub" */
	PdsTlsIdentity *identity; /* client certificate (borrowed) */
	PdsTlsIdentity *ca;	  /* session CA (borrowed) */
	gchar *source_id;	  /* stable for this process's life */
	gsize spool_limit_bytes;  /* default 64 MiB */
	guint heartbeat_secs;	  /* default 5; the peer is dead after 3 missed */
	guint grace_secs;	  /* give up after this long without a hub; 0 = never */
} PdsUplinkConfig;

/*
 * @header_blocks: the SHB and IDBs (and any source record) the source sends
 * first on every connection; @uplink keeps a reference.
 */
PdsUplink *pds_uplink_new(const PdsUplinkConfig *config, GBytes *header_blocks);
void pds_uplink_start(PdsUplink *uplink);
/* Queue one or more complete data blocks (they get consecutive sequences). */
void pds_uplink_send_blocks(PdsUplink *uplink, const guint8 *blocks, gsize len, guint n_blocks);
/*
 * The same without a copy: the spool takes @batch (its @n_blocks complete
 * blocks) and returns an empty buffer for the caller's next batch, a recycled
 * one when it has one. A small batch is copied and @batch comes back emptied.
 */
GByteArray *pds_uplink_send_batch(PdsUplink *uplink, GByteArray *batch, guint n_blocks);
/*
 * Writes what was queued now instead of on the next main-loop iteration: for
 * a caller that has queued all it has for a while (the end of a capture
 * wake-up), this saves that iteration and its poll().
 */
void pds_uplink_push(PdsUplink *uplink);
/* Replace what is sent first on the next connection (e.g. a new IDB). */
void pds_uplink_set_header_blocks(PdsUplink *uplink, GBytes *header_blocks);
/* Flush what is queued, send GOODBYE, close. */
void pds_uplink_stop(PdsUplink *uplink);

gboolean pds_uplink_is_connected(PdsUplink *uplink);
guint64 pds_uplink_get_spool_bytes(PdsUplink *uplink);
guint64 pds_uplink_get_dropped_blocks(PdsUplink *uplink);
/*
 * Emptied spool buffers kept for reuse, and the trim that the uplink runs by
 * itself every 10 s: it frees those that no chunk or batch needed since the
 * previous trim.
 */
guint pds_uplink_get_pooled_buffers(PdsUplink *uplink);
void pds_uplink_trim_buffers(PdsUplink *uplink);
/* Bytes the spool still takes before it drops blocks. */
gsize pds_uplink_get_spool_room(PdsUplink *uplink);
/*
 * Asks for one "room" signal when acknowledgements have freed the spool down
 * to @bytes of room (a producer that paused itself instead of having its
 * blocks dropped resumes then). The caller checks the room it has now itself.
 */
void pds_uplink_notify_room(PdsUplink *uplink, gsize bytes);
/* After pds_uplink_stop(): blocks queued that the hub never acknowledged. */
guint64 pds_uplink_get_unconfirmed_blocks(PdsUplink *uplink);
guint64 pds_uplink_get_acked_seq(PdsUplink *uplink);

/*
 * Signals:
 *  "connected" ()
 *  "disconnected" (const char *reason)
 *  "given-up" ()       the grace period ran out; the source should exit
 *  "dropping" (guint64 total_dropped)  the spool is full; emitted when drops start
 *  "room" ()           the room asked for with pds_uplink_notify_room() is there
 */

/*
 * Options of the Section Header Block a source opens every connection with
 * (README, "The wire"): shb_hardware = @node, shb_os, shb_userappl
 * "podscope-<role> <version>", and the custom options source_id, role,
 * namespace, pod and node. Callers may add more before writing it.
 */
PdsPcapngOptions *pds_uplink_source_shb_options_new(const char *role,
						    const char *source_id,
						    const char *namespace_,
						    const char *pod,
						    const char *node);

/*
 * CONTROL records (type 4) in Custom Blocks, for both ends of the wire.
 * SEQ is written for HELLO, START, ACK and CHECKPOINT; @source_id and
 * @message may be NULL.
 */
void pds_uplink_write_control(GByteArray *out,
			      PdsControlKind kind,
			      guint64 seq,
			      const char *source_id,
			      const char *message);

typedef struct {
	PdsControlKind kind;
	guint64 seq;	  /* 0 when absent */
	gchar *source_id; /* NULL when absent */
	gchar *message;	  /* NULL when absent */
} PdsUplinkControl;

void pds_uplink_control_clear(PdsUplinkControl *control);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(PdsUplinkControl, pds_uplink_control_clear)

/*
 * TRUE with @control filled when @block is a PodScope Custom Block carrying a
 * CONTROL record; FALSE with @error unset for any other block; FALSE with
 * @error set when it is a PodScope record that is malformed.
 */
gboolean
pds_uplink_parse_control(const PdsPcapngBlock *block, PdsUplinkControl *control, GError **error);

G_END_DECLS
