/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The "podscope-hub" extcap interface against a real hub: a local session
 * (hub + agent in a network namespace this test makes) serves the capture,
 * the extcap streams it into a fifo as Wireshark would read it, with a
 * capture filter applied on the way; then SIGTERM stops it. A wrong token is
 * refused with a message.
 */
/* memmem() */
#define _GNU_SOURCE
#include "config.h"

#define G_LOG_DOMAIN "PdsTest"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pds-local-session.h"
#include "pds-pcapng-reader.h"
#include "pds-record-codec.h"

typedef struct {
	gchar *ns_client;
	gchar *ns_server;
	gchar *www;
	GPid server;
} Net;

static gboolean
run_cmd(const char *cmdline)
{
	g_autoptr(GError) error = NULL;
	gint status = 0;

	if (!g_spawn_command_line_sync(cmdline, NULL, NULL, &status, &error)) {
		g_test_message("%s: %s", cmdline, error->message);
		return FALSE;
	}
	return g_spawn_check_wait_status(status, NULL);
}

static gboolean run_fmt(const char *format, ...) G_GNUC_PRINTF(1, 2);

static gboolean
run_fmt(const char *format, ...)
{
	va_list args;
	g_autofree gchar *cmd = NULL;

	va_start(args, format);
	cmd = g_strdup_vprintf(format, args);
	va_end(args);
	return run_cmd(cmd);
}

static void
net_down(Net *net)
{
	if (net->server > 0) {
		kill(net->server, SIGTERM);
		waitpid(net->server, NULL, 0);
		g_spawn_close_pid(net->server);
	}
	run_fmt("ip netns del %s", net->ns_client);
	run_fmt("ip netns del %s", net->ns_server);
	if (net->www != NULL)
		run_fmt("rm -rf %s", net->www);
	g_free(net->ns_client);
	g_free(net->ns_server);
	g_free(net->www);
}

static void
net_up(Net *net)
{
	guint pid = (guint)getpid();
	const char *server_argv[] = {"ip",	    "netns",	   "exec", NULL,     "python3",
				     "-m",	    "http.server", "8080", "--bind", "10.234.0.2",
				     "--directory", NULL,	   NULL};
	g_autoptr(GError) error = NULL;

	net->ns_client = g_strdup_printf("pdswha%u", pid);
	net->ns_server = g_strdup_printf("pdswhb%u", pid);
	g_assert_true(run_fmt("ip netns add %s", net->ns_client));
	g_assert_true(run_fmt("ip netns add %s", net->ns_server));
	g_assert_true(run_fmt("ip link add pdswh%ua type veth peer name pdswh%ub", pid, pid));
	g_assert_true(run_fmt("ip link set pdswh%ua netns %s", pid, net->ns_client));
	g_assert_true(run_fmt("ip link set pdswh%ub netns %s", pid, net->ns_server));
	g_assert_true(run_fmt("ip -n %s addr add 10.234.0.1/24 dev pdswh%ua", net->ns_client, pid));
	g_assert_true(run_fmt("ip -n %s addr add 10.234.0.2/24 dev pdswh%ub", net->ns_server, pid));
	g_assert_true(run_fmt("ip -n %s link set pdswh%ua up", net->ns_client, pid));
	g_assert_true(run_fmt("ip -n %s link set pdswh%ub up", net->ns_server, pid));
	g_assert_true(run_fmt("ip -n %s link set lo up", net->ns_client));
	g_assert_true(run_fmt("ip -n %s link set lo up", net->ns_server));
	net->www = g_dir_make_tmp("pds-ws-www-XXXXXX", &error);
	g_assert_no_error(error);
	for (guint i = 0; i < 10; i++) {
		g_autofree gchar *path = g_strdup_printf("%s/hub-%u", net->www, i);
		g_assert_true(g_file_set_contents(path, "hello\n", -1, NULL));
	}
	server_argv[3] = net->ns_server;
	server_argv[11] = net->www;
	g_assert_true(g_spawn_async(NULL, (gchar **)server_argv, NULL,
				    G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD |
					    G_SPAWN_STDOUT_TO_DEV_NULL,
				    NULL, NULL, &net->server, &error));
	g_assert_no_error(error);
}

static void
curl(Net *net, guint i)
{
	g_autofree gchar *cmd = g_strdup_printf(
		"ip netns exec %s curl -s -o /dev/null --retry 20 --retry-connrefused "
		"--retry-delay 0 http://10.234.0.2:8080/hub-%u",
		net->ns_client, i);

	g_assert_true(run_cmd(cmd));
}

/* Ethernet + IPv4 + TCP: are both ports outside 8080? */
static gboolean
packet_is_other_than_port_8080(const guint8 *p, guint32 len)
{
	guint ihl;
	guint16 sport;
	guint16 dport;

	if (len < 14 + 20 || p[12] != 0x08 || p[13] != 0x00)
		return TRUE;
	ihl = (p[14] & 0x0f) * 4u;
	if (p[14 + 9] != 6 || len < 14 + ihl + 4)
		return TRUE;
	sport = (guint16)(p[14 + ihl] << 8 | p[14 + ihl + 1]);
	dport = (guint16)(p[14 + ihl + 2] << 8 | p[14 + ihl + 3]);
	return sport != 8080 && dport != 8080;
}

typedef struct {
	guint requests;
	guint records;
	guint other;
	guint epbs;
} Seen;

static void
read_blocks(PdsPcapngReader *reader, Seen *seen)
{
	PdsPcapngBlock block;
	g_autoptr(GError) error = NULL;

	while (pds_pcapng_reader_next(reader, &block, &error)) {
		const PdsPcapngInterface *iface;

		if (block.type != PDS_PCAPNG_BT_EPB)
			continue;
		seen->epbs++;
		iface = pds_pcapng_reader_get_interface(reader, block.interface_id);
		g_assert_nonnull(iface);
		if (iface == NULL)
			continue;
		if (iface->linktype == PDS_LINKTYPE_WIRESHARK_UPPER_PDU) {
			gsize rlen = 0;
			if (pds_record_from_exported_pdu(block.packet, block.caplen, &rlen) != NULL)
				seen->records++;
			continue;
		}
		if (packet_is_other_than_port_8080(block.packet, block.caplen))
			seen->other++;
		if (memmem(block.packet, block.caplen, "GET /hub-", 9) != NULL)
			seen->requests++;
	}
	g_assert_no_error(error);
}

static GPid
spawn_extcap(const char *url, const char *token, const char *fifo, gint *err_fd)
{
	g_autofree gchar *podscope = g_build_filename(PDS_BUILD_ROOT, "extcap", "podscope", NULL);
	const char *argv[] = {podscope,
			      "--capture",
			      "--extcap-interface",
			      "podscope-hub",
			      "--fifo",
			      fifo,
			      "--url",
			      url,
			      "--token",
			      token,
			      "--extcap-capture-filter",
			      "tcp port 8080",
			      NULL};
	g_autoptr(GError) error = NULL;
	GPid pid = 0;

	g_assert_true(g_spawn_async_with_pipes(NULL, (gchar **)argv, NULL,
					       G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL, &pid, NULL,
					       NULL, err_fd, &error));
	g_assert_no_error(error);
	return pid;
}

static int
wait_exit(GPid pid, guint timeout_ms)
{
	gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
	int status = 0;

	while (g_get_monotonic_time() < deadline) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			return status;
		g_usleep(50 * 1000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}

static gchar *
read_all_fd(int fd)
{
	GString *s = g_string_new(NULL);
	char buf[1024];
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0)
		g_string_append_len(s, buf, n);
	close(fd);
	return g_string_free(s, FALSE);
}

static void
session_stopped_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr(GError) error = NULL;

	pds_local_session_stop_finish(PDS_LOCAL_SESSION(source), result, &error);
	g_assert_no_error(error);
	g_main_loop_quit(user_data);
}

static void
test_hub_stream(void)
{
	Net net = {0};
	g_autoptr(PdsLocalSession) session = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(PdsPcapngReader) reader = pds_pcapng_reader_new();
	g_autofree gchar *dir = NULL;
	g_autofree gchar *fifo = NULL;
	g_autofree gchar *url = NULL;
	g_autofree gchar *stderr_text = NULL;
	Seen seen = {0};
	GPid extcap;
	gint err_fd = -1;
	int fd;
	int status;
	gint64 start;
	gint64 stop_ms;
	guint8 buf[65536];

	if (geteuid() != 0) {
		g_test_skip("needs root for network namespaces");
		return;
	}
	net_up(&net);
	g_test_message("namespaces %s and %s up", net.ns_client, net.ns_server);
	curl(&net, 0);
	g_test_message("HTTP server answers");

	session = pds_local_session_new();
	pds_local_session_add_netns(session, net.ns_client);
	pds_local_session_set_envelope(session, PDS_LOCAL_ENVELOPE_EXPORTED_PDU);
	if (!pds_local_session_start(session, NULL, &error)) {
		net_down(&net);
		g_assert_no_error(error);
	}
	url = pds_local_session_dup_api_url(session);
	g_test_message("session hub at %s", url);

	dir = g_dir_make_tmp("pds-ws-hub-XXXXXX", &error);
	g_assert_no_error(error);
	fifo = g_build_filename(dir, "fifo", NULL);
	g_assert_cmpint(mkfifo(fifo, 0600), ==, 0);

	extcap = spawn_extcap(url, pds_local_session_get_token(session), fifo, &err_fd);
	/* As dumpcap does: the reader opens the fifo and waits for the writer. */
	fd = open(fifo, O_RDONLY | O_CLOEXEC);
	g_assert_cmpint(fd, >=, 0);
	g_test_message("extcap %d opened the fifo", (int)extcap);
	for (guint i = 1; i <= 5; i++)
		curl(&net, i);

	start = g_get_monotonic_time();
	while (seen.requests < 5 && g_get_monotonic_time() - start < 20 * G_USEC_PER_SEC) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n <= 0)
			break;
		pds_pcapng_reader_feed(reader, buf, (gsize)n);
		read_blocks(reader, &seen);
	}
	g_test_message("%u EPBs: %u requests, %u records, %u other packets", seen.epbs,
		       seen.requests, seen.records, seen.other);
	g_assert_cmpuint(seen.requests, >=, 5);
	g_assert_cmpuint(seen.records, >=, 1);
	g_assert_cmpuint(seen.other, ==, 0);

	/* SIGTERM: a normal stop, the fifo ends at a block boundary. */
	start = g_get_monotonic_time();
	kill(extcap, SIGTERM);
	status = wait_exit(extcap, 25000);
	stop_ms = (g_get_monotonic_time() - start) / 1000;
	g_spawn_close_pid(extcap);
	stderr_text = read_all_fd(err_fd);
	g_test_message("extcap exited %" G_GINT64_FORMAT " ms after SIGTERM, stderr: %s", stop_ms,
		       stderr_text);
	g_assert_true(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0);
	g_assert_cmpstr(stderr_text, ==, "");
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n <= 0)
			break;
		pds_pcapng_reader_feed(reader, buf, (gsize)n);
		read_blocks(reader, &seen);
	}
	close(fd);
	g_assert_true(pds_pcapng_reader_finish(reader, &error));
	g_assert_no_error(error);

	/* A wrong token: refused, and the user is told which field to fix. */
	{
		g_autofree gchar *text = NULL;

		extcap = spawn_extcap(url, "not-the-token", fifo, &err_fd);
		fd = open(fifo, O_RDONLY | O_CLOEXEC);
		g_assert_cmpint(fd, >=, 0);
		while (read(fd, buf, sizeof(buf)) > 0)
			;
		close(fd);
		status = wait_exit(extcap, 25000);
		g_spawn_close_pid(extcap);
		text = read_all_fd(err_fd);
		g_test_message("wrong token: %s", text);
		g_assert_true(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 1);
		g_assert_nonnull(strstr(text, "refused the API token"));
	}

	/* The reader goes away (Wireshark stopped reading): a normal stop, status 0. */
	{
		g_autofree gchar *text = NULL;
		ssize_t got;

		extcap = spawn_extcap(url, pds_local_session_get_token(session), fifo, &err_fd);
		fd = open(fifo, O_RDONLY | O_CLOEXEC);
		g_assert_cmpint(fd, >=, 0);
		got = read(fd, buf, 64);
		g_assert_cmpint(got, >, 0);
		close(fd);
		for (guint i = 6; i <= 9; i++)
			curl(&net, i);
		status = wait_exit(extcap, 25000);
		g_spawn_close_pid(extcap);
		text = read_all_fd(err_fd);
		g_test_message("closed fifo: status %d, stderr: %s", status, text);
		g_assert_true(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0);
		g_assert_cmpstr(text, ==, "");
	}

	/* The graceful stop: agents flush, then the hub ends. */
	{
		g_autoptr(GMainLoop) loop = g_main_loop_new(NULL, FALSE);
		pds_local_session_stop_async(session, NULL, session_stopped_cb, loop);
		g_main_loop_run(loop);
	}
	g_unlink(fifo);
	g_rmdir(dir);
	net_down(&net);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	/* Failures must not skip the cleanup of namespaces and processes. */
	g_test_set_nonfatal_assertions();
	g_test_add_func("/extcap/hub-stream", test_hub_stream);
	return g_test_run();
}
