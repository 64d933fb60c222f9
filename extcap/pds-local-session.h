/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A local capture session without Kubernetes: an embedded podscope-hub on
 * 127.0.0.1 and one podscope-agent per tapped interface of local network
 * namespaces, with session credentials (CA, hub and client certificates,
 * bearer token) made at start in a private temporary directory.
 *
 * Life cycle (all on GLib's global default main context, from the main thread):
 *
 *   session = pds_local_session_new();
 *   pds_local_session_add_netns(session, "web");        (and/or _add_pid)
 *   pds_local_session_set_filter(session, "tcp port 80");
 *   pds_local_session_start(session, cancellable, &error);  hub ready, agents connected
 *   pds_local_session_stream_async(session, out, ...);  live pcapng -> @out
 *   ... on SIGINT/SIGTERM: pds_local_session_stop_async(session, ...);
 *       stops the agents (they flush), drains what the hub still sends,
 *       ends the stream at a block boundary, stops the hub, removes the
 *       temporary directory. The stream's callback then reports success.
 *
 * Children get PR_SET_PDEATHSIG so nothing is left if the parent is killed.
 * The session object also stops everything (synchronously) when finalized.
 *
 * pds_local_session_run() does all of that in one call with its own signal
 * handling, for programs that only want "capture until told to stop".
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define PDS_LOCAL_SESSION_ERROR (pds_local_session_error_quark())
GQuark pds_local_session_error_quark(void);

typedef enum {
	PDS_LOCAL_SESSION_ERROR_FAILED,
	PDS_LOCAL_SESSION_ERROR_NOT_FOUND,  /* netns, PID or program not found */
	PDS_LOCAL_SESSION_ERROR_CHILD_EXIT, /* hub or agent exited early */
	PDS_LOCAL_SESSION_ERROR_TIMEOUT,    /* hub not ready / agents not connected in time */
	PDS_LOCAL_SESSION_ERROR_HTTP,	    /* the hub's API answered with an error */
} PdsLocalSessionError;

typedef enum {
	PDS_LOCAL_ENVELOPE_EXPORTED_PDU, /* default: records as EPBs of linktype 252 */
	PDS_LOCAL_ENVELOPE_CUSTOM,	 /* records as pcapng Custom Blocks */
} PdsLocalEnvelope;

/* One tapped namespace, as resolved by pds_local_session_start(). */
typedef struct {
	gchar *name;	   /* netns name, or "<comm>-<pid>" for --pid targets */
	gchar *netns_path; /* /run/netns/NAME or /proc/PID/ns/net */
	GStrv interfaces;  /* interfaces that get an agent each ("any" when no other) */
	GStrv addresses;   /* IPv4/IPv6 addresses in the namespace, without loopback */
} PdsLocalTarget;

#define PDS_TYPE_LOCAL_SESSION (pds_local_session_get_type())
G_DECLARE_FINAL_TYPE(PdsLocalSession, pds_local_session, PDS, LOCAL_SESSION, GObject)

PdsLocalSession *pds_local_session_new(void);

/* Options; only before start. */
/* @netns: a name in /run/netns or a path to an nsfs file. */
void pds_local_session_add_netns(PdsLocalSession *self, const char *netns);
/* The network namespace of process @pid (/proc/PID/ns/net). */
void pds_local_session_add_pid(PdsLocalSession *self, GPid pid);
void pds_local_session_set_filter(PdsLocalSession *self, const char *bpf_filter);
/* NULL (default): every non-loopback interface of each namespace, or "any" if none. */
void pds_local_session_set_interface(PdsLocalSession *self, const char *interface);
void pds_local_session_set_envelope(PdsLocalSession *self, PdsLocalEnvelope envelope);
/* Extra static names for the hub's Name Resolution Blocks (the targets' own
 * addresses are named after their namespace automatically). */
void pds_local_session_add_name(PdsLocalSession *self, const char *address, const char *name);
/* Pass -v to the hub and agents. */
void pds_local_session_set_verbose(PdsLocalSession *self, gboolean verbose);
/* Append the children's stdout/stderr to @path instead of inheriting stderr
 * (an extcap must keep stderr quiet). NULL: inherit. */
void pds_local_session_set_log_file(PdsLocalSession *self, const char *path);
/* Skip the agents' flow analysis (--no-analyze). */
void pds_local_session_set_analyze(PdsLocalSession *self, gboolean analyze);

/*
 * Makes the credentials, starts the hub and waits for its ready file, resolves
 * the targets, starts the agents and waits until each is connected to the hub.
 * Iterates the default main context while it waits.
 */
gboolean pds_local_session_start(PdsLocalSession *self, GCancellable *cancellable, GError **error);

/* After start. */
GPtrArray *pds_local_session_get_targets(PdsLocalSession *self); /* of PdsLocalTarget, borrowed */
guint pds_local_session_get_api_port(PdsLocalSession *self);
guint pds_local_session_get_ingest_port(PdsLocalSession *self);
const char *pds_local_session_get_token(PdsLocalSession *self);
/* The session's private directory (credentials, token, hub data dir). */
const char *pds_local_session_get_directory(PdsLocalSession *self);
/* "http://127.0.0.1:PORT" */
gchar *pds_local_session_dup_api_url(PdsLocalSession *self);

/*
 * Streams GET /v1/capture.pcapng?follow=1&envelope=... into @out, flushing
 * after every read. Completes when: the session was stopped (success, the
 * output ends at a block boundary); the hub ended the stream (success); @out
 * was closed by its reader (broken pipe: success, and
 * pds_local_session_get_output_closed() is TRUE); or an error occurred.
 * @cancellable aborts at once (not at a block boundary).
 */
void pds_local_session_stream_async(PdsLocalSession *self,
				    GOutputStream *out,
				    GCancellable *cancellable,
				    GAsyncReadyCallback callback,
				    gpointer user_data);
gboolean
pds_local_session_stream_finish(PdsLocalSession *self, GAsyncResult *result, GError **error);
gboolean pds_local_session_get_output_closed(PdsLocalSession *self);
guint64 pds_local_session_get_bytes_streamed(PdsLocalSession *self);
/* Enhanced/Simple Packet Blocks written to the output so far. */
guint64 pds_local_session_get_packets_streamed(PdsLocalSession *self);

/*
 * Stops the agents (SIGTERM; SIGKILL after a timeout), lets a running stream
 * drain what the hub still has, ends it, stops the hub and removes the
 * temporary directory. Safe to call more than once and before start.
 */
void pds_local_session_stop_async(PdsLocalSession *self,
				  GCancellable *cancellable,
				  GAsyncReadyCallback callback,
				  gpointer user_data);
gboolean pds_local_session_stop_finish(PdsLocalSession *self, GAsyncResult *result, GError **error);
/* Blocking variant: kills without draining. For error paths and finalize. */
void pds_local_session_stop_now(PdsLocalSession *self);

/*
 * Convenience: start (if not started), call @started (may be NULL) once the
 * agents are connected, stream into @out until SIGINT/SIGTERM, the output's
 * reader goes away or the hub ends the stream, then stop. SIGINT/SIGTERM
 * during start abort it cleanly (error G_IO_ERROR_CANCELLED). Runs its own
 * main loop on the default context.
 */
typedef void (*PdsLocalSessionStartedFunc)(PdsLocalSession *self, gpointer user_data);
gboolean pds_local_session_run(PdsLocalSession *self,
			       GOutputStream *out,
			       PdsLocalSessionStartedFunc started,
			       gpointer user_data,
			       GError **error);

G_END_DECLS
