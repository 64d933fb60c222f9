/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The real source side (lib/pds-uplink) against the real podscope-hub:
 * blocks arrive exactly once, also when the hub is killed with SIGKILL in
 * the middle and restarted on the same data directory.
 */
#include "config.h"

#include <libsoup/soup.h>
#include <stdio.h>
#include <string.h>

#include "pds-pcapng-reader.h"
#include "pds-pcapng-writer.h"
#include "pds-tls.h"
#include "pds-test-hub.h"
#include "pds-uplink.h"

#define TOKEN "uplink-test-token"

typedef struct {
	gchar *dir;
	gchar *data_dir;
	PdsTlsIdentity *ca;
	PdsTlsIdentity *client;
	GSubprocess *hub;
	guint16 ingest_port;
	guint16 api_port;
} Fixture;

static void
iterate_until(gboolean (*done)(gpointer), gpointer data, guint timeout_ms)
{
	gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
	while (!done(data) && g_get_monotonic_time() < deadline) {
		if (!g_main_context_iteration(NULL, FALSE))
			g_usleep(2000);
	}
}

static void
hub_start(Fixture *f, guint16 ingest_port)
{
	g_autofree gchar *ingest = g_strdup_printf("127.0.0.1:%u", ingest_port);
	g_autofree gchar *ca = g_build_filename(f->dir, "ca.crt", NULL);
	g_autofree gchar *cert = g_build_filename(f->dir, "podscope-hub.crt", NULL);
	g_autofree gchar *key = g_build_filename(f->dir, "podscope-hub.key", NULL);
	g_autofree gchar *token = g_build_filename(f->dir, "token", NULL);
	/* clang-format off */
	const char *args[] = {"--data-dir", f->data_dir, "--ca", ca, "--cert", cert,
			      "--key", key, "--token-file", token, "--ingest", ingest,
			      "--api", "127.0.0.1:0", "--chunk-size", "65536", NULL};
	/* clang-format on */

	g_assert_true(g_file_set_contents(token, TOKEN "\n", -1, NULL));
	f->hub = pds_test_hub_spawn(f->dir, args, &f->ingest_port, &f->api_port);
}

static void
fixture_setup(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;

	f->dir = g_dir_make_tmp(NULL, &error);
	g_assert_no_error(error);
	f->data_dir = g_build_filename(f->dir, "data", NULL);
	f->ca = pds_test_hub_make_credentials(f->dir, "uplink test CA", "podscope-hub");
	f->client = pds_tls_identity_issue(f->ca, "agent", PDS_TLS_USAGE_CLIENT, NULL, 0, 86400,
					   &error);
	g_assert_no_error(error);
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
	pds_test_hub_stop(&f->hub);
	pds_tls_identity_free(f->ca);
	pds_tls_identity_free(f->client);
	pds_test_hub_remove_dir(&f->dir);
	g_free(f->data_dir);
}

/* An Ethernet/IPv4/UDP frame whose payload starts with "packet N ". */
static void
append_packet(GByteArray *out, guint n)
{
	guint8 frame[14 + 20 + 8 + 32] = {0};
	g_autofree gchar *text = g_strdup_printf("packet %u ", n);

	memcpy(frame, "\x02\0\0\0\0\x02\x02\0\0\0\0\x01\x08\x00", 14);
	frame[14] = 0x45;
	frame[14 + 2] = (sizeof(frame) - 14) >> 8;
	frame[14 + 3] = (sizeof(frame) - 14) & 0xff;
	frame[14 + 8] = 64;
	frame[14 + 9] = 17;
	memcpy(frame + 14 + 12, "\x0a\0\0\x01\x0a\0\0\x02", 8);
	frame[34 + 0] = 0x9c;
	frame[34 + 2] = 0x27;
	frame[34 + 3] = 0x0f;
	frame[34 + 5] = 8 + 32;
	memcpy(frame + 42, text, strlen(text));
	pds_pcapng_write_epb(out, 0, (guint64)g_get_real_time() * 1000 + n, frame, sizeof(frame),
			     sizeof(frame), NULL);
}

static void
send_packets(PdsUplink *uplink, guint first, guint count)
{
	for (guint done = 0; done < count;) {
		g_autoptr(GByteArray) blocks = g_byte_array_new();
		guint n = MIN(100, count - done);
		for (guint i = 0; i < n; i++)
			append_packet(blocks, first + done + i);
		pds_uplink_send_blocks(uplink, blocks->data, blocks->len, n);
		done += n;
	}
}

typedef struct {
	PdsUplink *uplink;
	guint64 want;
} AckWait;

static gboolean
acked_enough(gpointer data)
{
	AckWait *w = data;
	return pds_uplink_get_acked_seq(w->uplink) >= w->want;
}

/* The numbers of the packets the hub serves, in order. */
static GArray *
served_numbers(Fixture *f)
{
	g_autoptr(SoupSession) session = soup_session_new();
	g_autofree gchar *url =
		g_strdup_printf("http://127.0.0.1:%u/v1/capture.pcapng", f->api_port);
	g_autoptr(SoupMessage) msg = soup_message_new("GET", url);
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) body = NULL;
	g_autoptr(PdsPcapngReader) reader = pds_pcapng_reader_new();
	GArray *numbers = g_array_new(FALSE, FALSE, sizeof(guint));
	PdsPcapngBlock block;

	soup_message_headers_replace(soup_message_get_request_headers(msg), "Authorization",
				     "Bearer " TOKEN);
	body = soup_session_send_and_read(session, msg, NULL, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(soup_message_get_status(msg), ==, 200);
	pds_pcapng_reader_feed(reader, g_bytes_get_data(body, NULL), g_bytes_get_size(body));
	while (pds_pcapng_reader_next(reader, &block, &error)) {
		guint n;
		if (block.type != PDS_PCAPNG_BT_EPB || block.caplen < 42 + 8)
			continue;
		if (sscanf((const char *)block.packet + 42, "packet %u ", &n) == 1)
			g_array_append_val(numbers, n);
	}
	g_assert_no_error(error);
	g_assert_true(pds_pcapng_reader_finish(reader, &error));
	return numbers;
}

static GBytes *
header_blocks(void)
{
	g_autoptr(GByteArray) out = g_byte_array_new();
	g_autoptr(PdsPcapngOptions) shb = pds_pcapng_options_new();
	g_autoptr(PdsPcapngOptions) idb = pds_pcapng_options_new();

	pds_pcapng_options_add_string(shb, PDS_PCAPNG_SHB_USERAPPL,
				      "podscope-agent " PACKAGE_VERSION);
	pds_pcapng_options_add_custom_kv(shb, "source_id", "uplink-test-1");
	pds_pcapng_options_add_custom_kv(shb, "role", "agent");
	pds_pcapng_options_add_custom_kv(shb, "namespace", "default");
	pds_pcapng_options_add_custom_kv(shb, "pod", "web-0");
	pds_pcapng_write_shb(out, shb);
	pds_pcapng_options_add_string(idb, PDS_PCAPNG_IF_NAME, "default/web-0/eth0");
	pds_pcapng_options_add_u8(idb, PDS_PCAPNG_IF_TSRESOL, 9);
	pds_pcapng_write_idb(out, PDS_LINKTYPE_ETHERNET, 262144, idb);
	return g_byte_array_free_to_bytes(g_steal_pointer(&out));
}

static void
test_exactly_once_across_kill(Fixture *f, gconstpointer data)
{
	PdsUplinkConfig config = {0};
	g_autoptr(GBytes) header = header_blocks();
	g_autoptr(PdsUplink) uplink = NULL;
	g_autoptr(GArray) numbers = NULL;
	AckWait wait;
	guint16 port;

	hub_start(f, 0);
	port = f->ingest_port;
	config.hub_host = (gchar *)"127.0.0.1";
	config.hub_port = port;
	config.server_name = (gchar *)"podscope-hub";
	config.identity = f->client;
	config.ca = f->ca;
	config.source_id = (gchar *)"uplink-test-1";
	config.heartbeat_secs = 5;
	uplink = pds_uplink_new(&config, header);
	pds_uplink_start(uplink);

	send_packets(uplink, 1, 3000);
	wait = (AckWait){uplink, 3000};
	iterate_until(acked_enough, &wait, 20000);
	g_assert_cmpuint(pds_uplink_get_acked_seq(uplink), ==, 3000);

	/* Kill the hub while more arrives: the uplink spools, the hub restarts. */
	send_packets(uplink, 3001, 500);
	pds_test_hub_kill9(&f->hub);
	send_packets(uplink, 3501, 1500);
	hub_start(f, port);
	wait = (AckWait){uplink, 5000};
	iterate_until(acked_enough, &wait, 30000);
	g_assert_cmpuint(pds_uplink_get_acked_seq(uplink), ==, 5000);

	numbers = served_numbers(f);
	g_assert_cmpuint(numbers->len, ==, 5000);
	for (guint i = 0; i < numbers->len; i++)
		g_assert_cmpuint(g_array_index(numbers, guint, i), ==, i + 1);
	pds_uplink_stop(uplink);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add("/hub/uplink/exactly-once-across-kill", Fixture, NULL, fixture_setup,
		   test_exactly_once_across_kill, fixture_teardown);
	return g_test_run();
}
