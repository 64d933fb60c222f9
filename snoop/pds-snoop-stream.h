/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The stream to the hub: file accesses as PodScope records (type 1) in pcapng
 * Custom Blocks over the shared mutual-TLS uplink, with its spool and retry.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
	const char *hub; /* HOST:PORT */
	const char *ca;	 /* PEM paths */
	const char *cert;
	const char *key;
	const char *pod;
	const char *namespace;
	const char *node;
} PdsSnoopStreamConfig;

typedef struct {
	guint64 timestamp_ns; /* since the epoch */
	const char *syscall;
	const char *path;
	const char *raw_path;	   /* NULL when equal to path */
	const char *resolved_path; /* NULL when unknown or equal */
	guint32 pid;
	guint32 tgid;
	const char *comm;
	guint64 cgroup_id;
	const char *container_name;
	const char *container_id;
	guint32 flags;
	guint32 mode;
	gboolean has_result;
	gint64 result;
	guint32 path_status; /* PdsFilePathStatus bits */
	gboolean compat;
	guint64 count;
} PdsSnoopAccess;

typedef struct _PdsSnoopStream PdsSnoopStream;

PdsSnoopStream *pds_snoop_stream_new(const PdsSnoopStreamConfig *config, GError **error);
void pds_snoop_stream_free(PdsSnoopStream *stream);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PdsSnoopStream, pds_snoop_stream_free)

void pds_snoop_stream_send_access(PdsSnoopStream *stream, const PdsSnoopAccess *access);
/* A source record with the ring buffer losses, when they changed. */
void pds_snoop_stream_send_lost(PdsSnoopStream *stream, guint64 events_lost);
/* Flushes what is queued and says goodbye. */
void pds_snoop_stream_stop(PdsSnoopStream *stream);
guint64 pds_snoop_stream_get_records(PdsSnoopStream *stream);
gboolean pds_snoop_stream_is_connected(PdsSnoopStream *stream);
guint64 pds_snoop_stream_get_dropped_blocks(PdsSnoopStream *stream);
guint64 pds_snoop_stream_get_spool_bytes(PdsSnoopStream *stream);

/* The record of one access (exposed for tests). */
GBytes *pds_snoop_access_to_record(const PdsSnoopAccess *access, const char *pod, const char *ns);

G_END_DECLS
