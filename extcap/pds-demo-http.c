/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "PdsDemo"

#include <arpa/inet.h>
#include <errno.h>
#include <glib/gi18n.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pds-demo-http.h"
#include "pds-demo-netns.h"

/* ---- server ---- */

typedef struct {
	const char *path;
	guint port;
	int fd;
	GError *error;
} ListenData;

/* A thread of its own enters the namespace, so the process stays where it is. */
static void
listen_fail(ListenData *data, int saved)
{
	g_set_error(&data->error, G_IO_ERROR, g_io_error_from_errno(saved),
		    /* TRANSLATORS: %u is a port, %s a path and the system's error text */
		    _("cannot listen on port %u in network namespace %s: %s"), data->port,
		    data->path, g_strerror(saved));
}

/* A thread of its own enters the namespace, so the process stays where it is. */
static gpointer
listen_thread(gpointer user_data)
{
	ListenData *data = user_data;
	struct sockaddr_in addr = {0};
	int one = 1;
	int fd;

	if (!pds_demo_netns_enter(data->path, &data->error))
		return NULL;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		listen_fail(data, errno);
		return NULL;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	addr.sin_family = AF_INET;
	addr.sin_port = htons((guint16)data->port);
	addr.sin_addr.s_addr = htonl(INADDR_ANY);
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 64) < 0) {
		listen_fail(data, errno);
		close(fd);
		return NULL;
	}
	data->fd = fd;
	return NULL;
}

static const char demo_index[] = "<!DOCTYPE html>\n<html><head><title>PodScope demo</title></head>"
				 "<body><h1>Hello from the web namespace</h1></body></html>\n";
static const char demo_pods[] =
	"{\"pods\":[{\"name\":\"web\",\"ip\":\"" PDS_DEMO_WEB_ADDRESS
	"\"},{\"name\":\"client\",\"ip\":\"" PDS_DEMO_CLIENT_ADDRESS "\"}]}\n";

static void
server_handler(SoupServer *server,
	       SoupServerMessage *msg,
	       const char *path,
	       GHashTable *query,
	       gpointer user_data)
{
	const char *method = soup_server_message_get_method(msg);

	if (g_strcmp0(method, "GET") != 0 && g_strcmp0(method, "HEAD") != 0) {
		soup_server_message_set_status(msg, SOUP_STATUS_METHOD_NOT_ALLOWED, NULL);
		return;
	}
	if (g_strcmp0(path, "/") == 0) {
		soup_server_message_set_status(msg, SOUP_STATUS_OK, NULL);
		soup_server_message_set_response(msg, "text/html", SOUP_MEMORY_STATIC, demo_index,
						 strlen(demo_index));
	} else if (g_strcmp0(path, "/api/pods") == 0) {
		soup_server_message_set_status(msg, SOUP_STATUS_OK, NULL);
		soup_server_message_set_response(msg, "application/json", SOUP_MEMORY_STATIC,
						 demo_pods, strlen(demo_pods));
	} else if (g_strcmp0(path, "/big") == 0) {
		/* Larger than one segment, so the capture shows a multi-segment response. */
		GString *body = g_string_sized_new(65536);
		for (guint i = 0; body->len < 65536; i++)
			g_string_append_printf(body, "line %05u of a large PodScope demo body\n",
					       i);
		soup_server_message_set_status(msg, SOUP_STATUS_OK, NULL);
		soup_server_message_set_response(msg, "text/plain", SOUP_MEMORY_TAKE, body->str,
						 body->len);
		g_string_free(body, FALSE);
	} else {
		soup_server_message_set_status(msg, SOUP_STATUS_NOT_FOUND, NULL);
		soup_server_message_set_response(msg, "text/plain", SOUP_MEMORY_STATIC,
						 "not found\n", 10);
	}
}

SoupServer *
pds_demo_http_server_new(const char *netns_path, guint port, GError **error)
{
	ListenData data = {netns_path, port, -1, NULL};
	g_autoptr(SoupServer) server = NULL;
	g_autoptr(GSocket) socket = NULL;

	g_thread_join(g_thread_new("pds-demo-listen", listen_thread, &data));
	if (data.error != NULL) {
		g_propagate_error(error, data.error);
		return NULL;
	}
	socket = g_socket_new_from_fd(data.fd, error);
	if (socket == NULL) {
		close(data.fd);
		return NULL;
	}
	server = soup_server_new("server-header", "podscope-demo/" PACKAGE_VERSION " ", NULL);
	soup_server_add_handler(server, NULL, server_handler, NULL, NULL);
	if (!soup_server_listen_socket(server, socket, 0, error))
		return NULL;
	return g_steal_pointer(&server);
}

/* ---- client ---- */

void
pds_demo_http_result_free(PdsDemoHttpResult *result)
{
	if (result == NULL)
		return;
	g_ptr_array_unref(result->lines);
	g_free(result);
}

typedef struct {
	gchar *netns_path;
	gchar *host;
	guint port;
	guint n_requests;
} ClientData;

static void
client_data_free(ClientData *data)
{
	g_free(data->netns_path);
	g_free(data->host);
	g_free(data);
}

static gboolean
write_all(int fd, const char *buf, gsize len, GError **error)
{
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n < 0) {
			int saved = errno;
			if (saved == EINTR)
				continue;
			g_set_error(error, G_IO_ERROR, g_io_error_from_errno(saved),
				    /* TRANSLATORS: %s is the system's error text */
				    _("cannot send the HTTP request: %s"), g_strerror(saved));
			return FALSE;
		}
		buf += n;
		len -= (gsize)n;
	}
	return TRUE;
}

/* Reads more into @buf; FALSE on EOF (error unset) or failure (error set). */
static gboolean
read_more(int fd, GString *buf, GError **error)
{
	char tmp[16384];
	ssize_t n;

	do
		n = recv(fd, tmp, sizeof(tmp), 0);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		int saved = errno;
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(saved),
			    /* TRANSLATORS: %s is the system's error text */
			    _("cannot read the HTTP response: %s"), g_strerror(saved));
		return FALSE;
	}
	if (n == 0)
		return FALSE;
	g_string_append_len(buf, tmp, n);
	return TRUE;
}

/* Reads one response (status line, headers, Content-Length body) off @buf/@fd. */
static gboolean
read_response(int fd, GString *buf, guint *status, gsize *body_len, GError **error)
{
	const char *end;
	gsize header_len;
	gsize content_length = 0;
	gboolean have_length = FALSE;
	g_auto(GStrv) lines = NULL;
	g_autofree gchar *head = NULL;

	while ((end = strstr(buf->str, "\r\n\r\n")) == NULL) {
		if (!read_more(fd, buf, error)) {
			if (error != NULL && *error == NULL)
				g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
						    _("the server closed the connection before "
						      "it answered"));
			return FALSE;
		}
	}
	header_len = (gsize)(end - buf->str) + 4;
	head = g_strndup(buf->str, header_len - 4);
	lines = g_strsplit(head, "\r\n", -1);
	if (lines[0] == NULL || sscanf(lines[0], "HTTP/1.%*d %u", status) != 1) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
			    /* TRANSLATORS: %s is the first line the server sent */
			    _("not an HTTP response: “%s”"), lines[0] != NULL ? lines[0] : "");
		return FALSE;
	}
	for (guint i = 1; lines[i] != NULL; i++) {
		if (g_ascii_strncasecmp(lines[i], "Content-Length:", 15) == 0) {
			content_length = (gsize)g_ascii_strtoull(lines[i] + 15, NULL, 10);
			have_length = TRUE;
		}
	}
	if (!have_length) {
		/* Our server always sends Content-Length; anything else ends at close. */
		while (read_more(fd, buf, NULL))
			;
		content_length = buf->len - header_len;
	}
	while (buf->len < header_len + content_length) {
		if (!read_more(fd, buf, error)) {
			if (error != NULL && *error == NULL)
				g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_PARTIAL_INPUT,
						    _("the server closed the connection in the "
						      "middle of a response"));
			return FALSE;
		}
	}
	g_string_erase(buf, 0, (gssize)(header_len + content_length));
	*body_len = content_length;
	return TRUE;
}

static int
client_connect(const char *host, guint port, GError **error)
{
	struct sockaddr_in addr = {0};
	struct timeval tv = {10, 0};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	addr.sin_family = AF_INET;
	addr.sin_port = htons((guint16)port);
	if (fd < 0 || inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
		int saved = fd < 0 ? errno : EINVAL;
		if (fd >= 0)
			close(fd);
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(saved),
			    /* TRANSLATORS: %s are an address and the system's error text */
			    _("cannot make a socket for %s: %s"), host, g_strerror(saved));
		return -1;
	}
	/* Never hang the demo on a lost packet. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		int saved = errno;
		close(fd);
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(saved),
			    /* TRANSLATORS: %s, %u and %s are an address, a port and the error */
			    _("cannot connect to %s:%u: %s"), host, port, g_strerror(saved));
		return -1;
	}
	return fd;
}

static gpointer
client_thread(gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	ClientData *data = g_task_get_task_data(task);
	GCancellable *cancellable = g_task_get_cancellable(task);
	const char *paths[] = {"/", "/api/pods", "/big", "/missing"};
	g_autoptr(PdsDemoHttpResult) result = g_new0(PdsDemoHttpResult, 1);
	GError *error = NULL;
	guint i = 0;

	result->lines = g_ptr_array_new_with_free_func(g_free);
	if (!pds_demo_netns_enter(data->netns_path, &error)) {
		g_task_return_error(task, error);
		return NULL;
	}
	while (i < data->n_requests) {
		g_autoptr(GString) buf = g_string_new(NULL);
		/* Odd connections carry three requests (keep-alive), even ones one. */
		guint group = result->connections % 2 == 0 ? 3 : 1;
		int fd;

		if (g_cancellable_set_error_if_cancelled(cancellable, &error)) {
			g_task_return_error(task, error);
			return NULL;
		}
		fd = client_connect(data->host, data->port, &error);
		if (fd < 0) {
			g_task_return_error(task, error);
			return NULL;
		}
		result->connections++;
		for (guint k = 0; k < group && i < data->n_requests; k++, i++) {
			const char *path = paths[i % G_N_ELEMENTS(paths)];
			gboolean last = k + 1 == group || i + 1 == data->n_requests;
			g_autofree gchar *req = g_strdup_printf(
				"GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: podscope-demo/%s\r\n"
				"Accept: */*\r\n%s\r\n",
				path, data->host, PACKAGE_VERSION,
				last ? "Connection: close\r\n" : "");
			guint status = 0;
			gsize body_len = 0;

			if (!write_all(fd, req, strlen(req), &error)) {
				close(fd);
				g_task_return_error(task, error);
				return NULL;
			}
			result->requests++;
			if (!read_response(fd, buf, &status, &body_len, &error)) {
				close(fd);
				g_task_return_error(task, error);
				return NULL;
			}
			result->responses++;
			g_autofree gchar *size = g_format_size(body_len);
			g_ptr_array_add(
				result->lines,
				g_strdup_printf(
					/* TRANSLATORS: one request of the demo client: path, HTTP
					   status, body size ("1.2 kB") and connection number */
					_("GET %s → %u, %s, connection %u"), path, status, size,
					result->connections));
			/* A human pace, and distinct timestamps in the capture. */
			g_usleep(20000);
		}
		close(fd);
	}
	g_task_return_pointer(task, g_steal_pointer(&result),
			      (GDestroyNotify)pds_demo_http_result_free);
	return NULL;
}

void
pds_demo_http_client_run_async(const char *netns_path,
			       const char *host,
			       guint port,
			       guint n_requests,
			       GCancellable *cancellable,
			       GAsyncReadyCallback callback,
			       gpointer user_data)
{
	GTask *task = g_task_new(NULL, cancellable, callback, user_data);
	ClientData *data = g_new0(ClientData, 1);

	g_task_set_source_tag(task, pds_demo_http_client_run_async);
	data->netns_path = g_strdup(netns_path);
	data->host = g_strdup(host);
	data->port = port;
	data->n_requests = n_requests;
	g_task_set_task_data(task, data, (GDestroyNotify)client_data_free);
	/*
	 * Not g_task_run_in_thread(): setns() would leave a pool thread in the
	 * client namespace. This thread ends with the client.
	 */
	g_thread_unref(g_thread_new("pds-demo-client", client_thread, task));
}

PdsDemoHttpResult *
pds_demo_http_client_run_finish(GAsyncResult *result, GError **error)
{
	g_return_val_if_fail(g_task_is_valid(result, NULL), NULL);
	return g_task_propagate_pointer(G_TASK(result), error);
}
