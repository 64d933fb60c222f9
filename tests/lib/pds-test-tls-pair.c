/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "pds-test-tls-pair.h"

#include <sys/socket.h>

void
pds_test_tls_pair_sockets(GSocket **a, GSocket **b)
{
	int fds[2];
	g_autoptr(GError) error = NULL;

	g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), ==, 0);
	*a = g_socket_new_from_fd(fds[0], &error);
	g_assert_no_error(error);
	*b = g_socket_new_from_fd(fds[1], &error);
	g_assert_no_error(error);
}

/* One step of one side; TRUE while it still waits for its socket. */
static gboolean
pds_test_tls_pair_step(PdsTlsConn *conn, gboolean *done, GError **final_error)
{
	g_autoptr(GError) error = NULL;

	if (*done)
		return FALSE;
	if (pds_tls_conn_handshake(conn, &error)) {
		*done = TRUE;
		return FALSE;
	}
	if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
		return TRUE;
	*done = TRUE;
	*final_error = g_steal_pointer(&error);
	/* the peer must see the end instead of waiting for us */
	pds_tls_conn_close(conn);
	return FALSE;
}

void
pds_test_tls_pair_handshake(PdsTestTlsPair *pair)
{
	gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;

	while (!pair->server_done || !pair->client_done) {
		GPollFD fds[2];
		guint n = 0;

		if (pds_test_tls_pair_step(pair->server, &pair->server_done, &pair->server_error)) {
			fds[n].fd = g_socket_get_fd(pds_tls_conn_get_socket(pair->server));
			fds[n].events = pds_tls_conn_get_wait_condition(pair->server);
			n++;
		}
		if (pds_test_tls_pair_step(pair->client, &pair->client_done, &pair->client_error)) {
			fds[n].fd = g_socket_get_fd(pds_tls_conn_get_socket(pair->client));
			fds[n].events = pds_tls_conn_get_wait_condition(pair->client);
			n++;
		}
		if (n > 0)
			g_poll(fds, n, 100);
		g_assert_cmpint(g_get_monotonic_time(), <, deadline);
	}
}

void
pds_test_tls_pair_clear(PdsTestTlsPair *pair)
{
	g_clear_pointer(&pair->server, pds_tls_conn_free);
	g_clear_pointer(&pair->client, pds_tls_conn_free);
	g_clear_error(&pair->server_error);
	g_clear_error(&pair->client_error);
	pair->server_done = pair->client_done = FALSE;
}
