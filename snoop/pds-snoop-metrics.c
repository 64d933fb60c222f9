/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "PdsSnoop"

#include <libsoup/soup.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "pds-snoop-metrics.h"

struct _PdsSnoopMetrics {
	SoupServer *server;
	guint16 port;
	PdsSnoopMetricsRender render;
	PdsSnoopHealthCheck health;
	gpointer user_data;
};

void
pds_snoop_metrics_append_process(GString *out)
{
	struct rusage ru;
	g_autofree gchar *statm = NULL;
	double cpu = 0;
	guint64 rss = 0;

	if (getrusage(RUSAGE_SELF, &ru) == 0)
		cpu = ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
		      (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
	if (g_file_get_contents("/proc/self/statm", &statm, NULL, NULL)) {
		g_auto(GStrv) f = g_strsplit(statm, " ", 3);

		if (f[0] != NULL && f[1] != NULL)
			rss = g_ascii_strtoull(f[1], NULL, 10) * (guint64)sysconf(_SC_PAGESIZE);
	}
	g_string_append_printf(out,
			       "# HELP process_cpu_seconds_total User and system CPU time.\n"
			       "# TYPE process_cpu_seconds_total counter\n"
			       "process_cpu_seconds_total %.3f\n"
			       "# HELP process_resident_memory_bytes Resident memory.\n"
			       "# TYPE process_resident_memory_bytes gauge\n"
			       "process_resident_memory_bytes %" G_GUINT64_FORMAT "\n",
			       cpu, rss);
}

static void
pds_snoop_metrics_on_metrics(SoupServer *server,
			     SoupServerMessage *msg,
			     const char *path,
			     GHashTable *query,
			     gpointer user_data)
{
	PdsSnoopMetrics *metrics = user_data;
	GString *out = g_string_new(NULL);
	gsize len;

	if (soup_server_message_get_method(msg) != SOUP_METHOD_GET &&
	    soup_server_message_get_method(msg) != SOUP_METHOD_HEAD) {
		soup_server_message_set_status(msg, SOUP_STATUS_METHOD_NOT_ALLOWED, NULL);
		g_string_free(out, TRUE);
		return;
	}
	metrics->render(out, metrics->user_data);
	pds_snoop_metrics_append_process(out);
	len = out->len;
	soup_server_message_set_status(msg, SOUP_STATUS_OK, NULL);
	soup_server_message_set_response(msg, "text/plain; version=0.0.4", SOUP_MEMORY_TAKE,
					 g_string_free(out, FALSE), len);
}

static void
pds_snoop_metrics_on_healthz(SoupServer *server,
			     SoupServerMessage *msg,
			     const char *path,
			     GHashTable *query,
			     gpointer user_data)
{
	PdsSnoopMetrics *metrics = user_data;
	const char *reason = NULL;
	g_autofree gchar *body = NULL;

	if (metrics->health(&reason, metrics->user_data)) {
		soup_server_message_set_status(msg, SOUP_STATUS_OK, NULL);
		soup_server_message_set_response(msg, "text/plain", SOUP_MEMORY_STATIC, "ok\n", 3);
		return;
	}
	body = g_strdup_printf("unhealthy: %s\n", reason != NULL ? reason : "unknown");
	soup_server_message_set_status(msg, SOUP_STATUS_SERVICE_UNAVAILABLE, NULL);
	soup_server_message_set_response(msg, "text/plain", SOUP_MEMORY_COPY, body, strlen(body));
}

PdsSnoopMetrics *
pds_snoop_metrics_new(const char *address,
		      PdsSnoopMetricsRender render,
		      PdsSnoopHealthCheck health,
		      gpointer user_data,
		      GError **error)
{
	g_autoptr(GSocketAddress) addr = NULL;
	g_autofree gchar *host = NULL;
	const char *colon = strrchr(address, ':');
	PdsSnoopMetrics *metrics;
	GSList *uris;
	guint64 port = 0;

	if (colon == NULL || !g_ascii_string_to_unsigned(colon + 1, 10, 0, 65535, &port, NULL)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			    "invalid metrics address \"%s\": expected ADDR:PORT", address);
		return NULL;
	}
	host = g_strndup(address, colon - address);
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		gchar *inner = g_strndup(host + 1, strlen(host) - 2);

		g_free(host);
		host = inner;
	}
	addr = g_inet_socket_address_new_from_string(host, (guint)port);
	if (addr == NULL) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			    "invalid metrics address \"%s\": %s is not an IP address", address,
			    host);
		return NULL;
	}
	metrics = g_new0(PdsSnoopMetrics, 1);
	metrics->render = render;
	metrics->health = health;
	metrics->user_data = user_data;
	metrics->server = soup_server_new("server-header", "podscope-snoop", NULL);
	soup_server_add_handler(metrics->server, "/metrics", pds_snoop_metrics_on_metrics, metrics,
				NULL);
	soup_server_add_handler(metrics->server, "/healthz", pds_snoop_metrics_on_healthz, metrics,
				NULL);
	if (!soup_server_listen(metrics->server, addr, 0, error)) {
		g_prefix_error(error, "cannot serve metrics on %s: ", address);
		pds_snoop_metrics_free(metrics);
		return NULL;
	}
	uris = soup_server_get_uris(metrics->server);
	if (uris != NULL)
		metrics->port = (guint16)g_uri_get_port(uris->data);
	g_slist_free_full(uris, (GDestroyNotify)g_uri_unref);
	return metrics;
}

void
pds_snoop_metrics_free(PdsSnoopMetrics *metrics)
{
	if (metrics == NULL)
		return;
	if (metrics->server != NULL) {
		soup_server_disconnect(metrics->server);
		g_object_unref(metrics->server);
	}
	g_free(metrics);
}

guint16
pds_snoop_metrics_get_port(PdsSnoopMetrics *metrics)
{
	return metrics->port;
}
