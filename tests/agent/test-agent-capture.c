/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The agent's namespace and capture modules against the real kernel: names
 * that do not exist, filters pcap refuses, and packets sent over a veth pair
 * into a namespace made for the test.
 */
#include "config.h"

#include <arpa/inet.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pds-agent-capture.h"
#include "pds-agent-netns.h"
#include "pds-pcapng-reader.h"
#include "pds-pcapng-writer.h"

static gboolean
is_root(void)
{
	return geteuid() == 0;
}

static void
test_netns_unknown(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *name = g_strdup_printf("pdsag-missing-%d", (int)getpid());
	g_autofree gchar *path = pds_agent_netns_resolve(name, &error);

	g_assert_null(path);
	g_assert_nonnull(error);
	g_assert_true(strstr(error->message, name) != NULL);
	/* Says where it looked and what exists (or that nothing does). */
	g_assert_true(strstr(error->message, "/run/netns") != NULL);
}

static void
test_netns_not_namespace(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *path = pds_agent_netns_resolve("/proc/self/status", &error);

	g_assert_null(path);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
	g_assert_true(strstr(error->message, "/proc/self/status") != NULL);
}

static void
test_netns_path(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *path = pds_agent_netns_resolve("/proc/self/ns/net", &error);

	g_assert_no_error(error);
	g_assert_cmpstr(path, ==, "/proc/self/ns/net");
}

static void
test_capture_unknown_interface(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(PdsAgentCapture) capture = NULL;
	PdsAgentCaptureConfig config = {.interface = "pdsnope0"};

	if (!is_root()) {
		g_test_skip("capturing needs root");
		return;
	}
	capture = pds_agent_capture_new(&config, &error);
	g_assert_null(capture);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
	g_assert_true(strstr(error->message, "pdsnope0") != NULL);
	/* Lists what exists: loopback is in every namespace. */
	g_assert_true(strstr(error->message, "lo") != NULL);
	g_assert_true(strstr(error->message, "any") != NULL);
}

static void
test_capture_bad_filter(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(PdsAgentCapture) capture = NULL;
	PdsAgentCaptureConfig config = {.interface = "lo", .filter = "tcp port"};

	if (!is_root()) {
		g_test_skip("capturing needs root");
		return;
	}
	capture = pds_agent_capture_new(&config, &error);
	g_assert_null(capture);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
	g_assert_true(strstr(error->message, "tcp port") != NULL);
	g_assert_true(strstr(error->message, "syntax error") != NULL);
}

/* A namespace with one end of a veth pair; the other end stays here. */
typedef struct {
	gchar *ns;
	gchar *host_if;
	gchar *ns_if;
	gchar *host_ip;
	gchar *ns_ip;
} NetFixture;

static gboolean
run(const char *cmd)
{
	g_autoptr(GError) error = NULL;
	gint status = 0;

	if (!g_spawn_command_line_sync(cmd, NULL, NULL, &status, &error) ||
	    !g_spawn_check_wait_status(status, &error)) {
		g_test_message("%s: %s", cmd, error->message);
		return FALSE;
	}
	return TRUE;
}

static void
net_init(NetFixture *fx, int pid)
{
	int id = pid % 200 + 20;

	fx->ns = g_strdup_printf("pdsag%d", pid);
	fx->host_if = g_strdup_printf("pdsah%d", pid);
	fx->ns_if = g_strdup_printf("pdsan%d", pid);
	fx->host_ip = g_strdup_printf("10.213.%d.1", id);
	fx->ns_ip = g_strdup_printf("10.213.%d.2", id);
}

static gboolean
net_setup(NetFixture *fx)
{
	g_autofree gchar *cmd = g_strdup_printf(
		"sh -ec 'ip netns add %s; ip link add %s type veth peer name %s; "
		"ip link set %s netns %s; ip addr add %s/24 dev %s; ip link set %s up; "
		"ip -n %s addr add %s/24 dev %s; ip -n %s link set %s up; "
		"ip -n %s link set lo up'",
		fx->ns, fx->host_if, fx->ns_if, fx->ns_if, fx->ns, fx->host_ip, fx->host_if,
		fx->host_if, fx->ns, fx->ns_ip, fx->ns_if, fx->ns, fx->ns_if, fx->ns);
	return run(cmd);
}

static void
net_teardown(NetFixture *fx)
{
	g_autofree gchar *c1 =
		g_strdup_printf("sh -c 'ip link del %s 2>/dev/null; true'", fx->host_if);
	g_autofree gchar *c2 = g_strdup_printf("sh -c 'ip netns del %s 2>/dev/null; true'", fx->ns);
	run(c1);
	run(c2);
	g_free(fx->ns);
	g_free(fx->host_if);
	g_free(fx->ns_if);
	g_free(fx->host_ip);
	g_free(fx->ns_ip);
}

typedef struct {
	guint batches;
	guint blocks;
	guint udp_to_port;
	guint64 last_ts;
	gboolean ts_ordered;
	GByteArray *all;
} Collected;

static GByteArray *
on_batch(GByteArray *batch, guint n_blocks, gpointer user_data)
{
	Collected *c = user_data;
	c->batches++;
	c->blocks += n_blocks;
	g_byte_array_append(c->all, batch->data, batch->len);
	return batch;
}

static gboolean
on_timeout(gpointer user_data)
{
	*(gboolean *)user_data = TRUE;
	return G_SOURCE_REMOVE;
}

static void
capture_veth_body(NetFixture *fx)
{
	const guint n_sent = 500;
	g_autoptr(GError) error = NULL;
	g_autoptr(PdsAgentCapture) capture = NULL;
	g_autofree gchar *path = NULL;
	g_autoptr(PdsPcapngReader) reader = pds_pcapng_reader_new();
	g_autoptr(GByteArray) idb = g_byte_array_new();
	PdsAgentCaptureStats stats = {0};
	PdsAgentCaptureConfig config = {0};
	PdsPcapngBlock block;
	Collected c = {.ts_ordered = TRUE};
	struct sockaddr_in dst = {0};
	gboolean timed_out = FALSE;
	guint timeout_id;
	guint n_epb = 0;
	int fd;
	char payload[200];

	path = pds_agent_netns_resolve(fx->ns, &error);
	g_assert_no_error(error);

	config.interface = fx->ns_if;
	config.netns_path = path;
	config.filter = "udp dst port 9999";
	config.exclude_filter = "tcp and host 10.0.0.1 and port 7443";
	capture = pds_agent_capture_new(&config, &error);
	g_assert_no_error(error);
	g_assert_nonnull(capture);
	g_assert_cmpuint(pds_agent_capture_get_linktype(capture), ==, 1);
	g_assert_cmpuint(pds_agent_capture_get_snaplen(capture), ==, 262144);
	g_assert_cmpstr(pds_agent_capture_get_filter(capture), ==,
			"(udp dst port 9999) and not (tcp and host 10.0.0.1 and port 7443)");

	/* The capture is in the namespace, the test thread is back where it was. */
	g_assert_true(g_file_test("/proc/thread-self/ns/net", G_FILE_TEST_EXISTS));
	{
		g_autofree gchar *self_ns = g_file_read_link("/proc/self/ns/net", NULL);
		g_autofree gchar *thread_ns = g_file_read_link("/proc/thread-self/ns/net", NULL);
		g_assert_cmpstr(self_ns, ==, thread_ns);
	}

	c.all = g_byte_array_new();
	pds_agent_capture_start(capture, on_batch, &c);

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	g_assert_cmpint(fd, >=, 0);
	dst.sin_family = AF_INET;
	dst.sin_port = htons(9999);
	g_assert_cmpint(inet_pton(AF_INET, fx->ns_ip, &dst.sin_addr), ==, 1);
	memset(payload, 'p', sizeof(payload));
	for (guint i = 0; i < n_sent; i++) {
		/* Other traffic to a port the filter does not take. */
		struct sockaddr_in other = dst;
		other.sin_port = htons(9998);
		g_assert_cmpint(sendto(fd, payload, sizeof(payload), 0, (struct sockaddr *)&dst,
				       sizeof(dst)),
				==, (gssize)sizeof(payload));
		g_assert_cmpint(
			sendto(fd, payload, 10, 0, (struct sockaddr *)&other, sizeof(other)), ==,
			10);
		if (i % 50 == 0)
			g_usleep(1000);
	}
	close(fd);

	timeout_id = g_timeout_add_seconds(10, on_timeout, &timed_out);
	while (c.blocks < n_sent && !timed_out)
		g_main_context_iteration(NULL, TRUE);
	if (!timed_out)
		g_source_remove(timeout_id);
	pds_agent_capture_stop(capture);
	g_assert_true(pds_agent_capture_get_stats(capture, &stats, &error));
	g_assert_no_error(error);
	g_test_message("batches %u blocks %u recv %" G_GUINT64_FORMAT " drop %" G_GUINT64_FORMAT,
		       c.batches, c.blocks, stats.received, stats.dropped);
	g_assert_cmpuint(c.blocks, ==, n_sent);
	g_assert_cmpuint(stats.delivered, ==, n_sent);
	g_assert_cmpuint(stats.received, ==, n_sent);
	g_assert_cmpuint(stats.dropped, ==, 0);

	/* The batches are valid EPBs: parse them behind a minimal SHB + IDB. */
	pds_pcapng_write_shb(idb, NULL);
	pds_pcapng_write_idb(idb, 1, 262144, NULL);
	pds_pcapng_reader_feed(reader, idb->data, idb->len);
	pds_pcapng_reader_feed(reader, c.all->data, c.all->len);
	while (pds_pcapng_reader_next(reader, &block, &error)) {
		if (block.type != PDS_PCAPNG_BT_EPB)
			continue;
		n_epb++;
		/* Ethernet + IPv4 + UDP + payload */
		g_assert_cmpuint(block.caplen, ==, 14 + 20 + 8 + sizeof(payload));
		g_assert_cmpuint(block.origlen, ==, block.caplen);
		g_assert_cmpuint(block.packet[12], ==, 0x08);
		g_assert_cmpuint((block.packet[36] << 8) | block.packet[37], ==, 9999);
		if (block.timestamp < c.last_ts)
			c.ts_ordered = FALSE;
		c.last_ts = block.timestamp;
	}
	g_assert_no_error(error);
	g_assert_cmpuint(n_epb, ==, n_sent);
	g_assert_true(c.ts_ordered);
	/* Nanosecond timestamps near now. */
	g_assert_cmpuint(c.last_ts / 1000000000u, >=, (guint64)(g_get_real_time() / 1000000 - 60));
	g_byte_array_unref(c.all);
}

/*
 * The namespace is made and removed by this process; the test body runs in a
 * subprocess so that a failed assertion cannot leave the namespace behind.
 */
static void
test_capture_veth(void)
{
	NetFixture fx = {0};

	if (!is_root()) {
		g_test_skip("network namespaces need root");
		return;
	}
	if (g_test_subprocess()) {
		net_init(&fx, atoi(g_getenv("PDS_TEST_PARENT_PID")));
		capture_veth_body(&fx);
		return;
	}
	net_init(&fx, (int)getpid());
	{
		g_autofree gchar *pid = g_strdup_printf("%d", (int)getpid());
		g_setenv("PDS_TEST_PARENT_PID", pid, TRUE);
	}
	if (!net_setup(&fx)) {
		net_teardown(&fx);
		g_test_fail_printf("cannot create network namespace %s", fx.ns);
		return;
	}
	g_test_trap_subprocess(NULL, 60 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_INHERIT_STDERR);
	net_teardown(&fx);
	g_test_trap_assert_passed();
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/agent/netns/unknown", test_netns_unknown);
	g_test_add_func("/agent/netns/not-a-namespace", test_netns_not_namespace);
	g_test_add_func("/agent/netns/path", test_netns_path);
	g_test_add_func("/agent/capture/unknown-interface", test_capture_unknown_interface);
	g_test_add_func("/agent/capture/bad-filter", test_capture_bad_filter);
	g_test_add_func("/agent/capture/veth", test_capture_veth);
	return g_test_run();
}
