/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The demo's HTTP traffic: a real HTTP/1.1 server (libsoup) listening inside
 * one network namespace, and a plain-socket client inside another that makes
 * requests, some on kept-alive connections and some on connections of their own.
 */
#pragma once

#include <gio/gio.h>
#include <libsoup/soup.h>

G_BEGIN_DECLS

/* Serves /, /api/pods, /big and 404 for the rest on 0.0.0.0:@port of the
 * network namespace @netns_path; runs on the thread-default main context. */
SoupServer *pds_demo_http_server_new(const char *netns_path, guint port, GError **error);

typedef struct {
	guint requests;	   /* requests sent */
	guint responses;   /* complete responses read */
	guint connections; /* TCP connections opened */
	GPtrArray *lines;  /* of gchar*: "GET /api/pods -> 200 (312 bytes)" */
} PdsDemoHttpResult;

void pds_demo_http_result_free(PdsDemoHttpResult *result);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PdsDemoHttpResult, pds_demo_http_result_free)

/* Makes @n_requests GET requests to @host:@port from inside @netns_path, on a
 * thread of its own; @cancellable stops between requests. */
void pds_demo_http_client_run_async(const char *netns_path,
				    const char *host,
				    guint port,
				    guint n_requests,
				    GCancellable *cancellable,
				    GAsyncReadyCallback callback,
				    gpointer user_data);
PdsDemoHttpResult *pds_demo_http_client_run_finish(GAsyncResult *result, GError **error);

G_END_DECLS
