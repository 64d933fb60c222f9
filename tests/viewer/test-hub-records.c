/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Stored records as the viewer's JSON (hub/pds-hub-records.c): blocks
 * written into a real store, read back through a cursor, parsed with
 * json-glib.
 */
#include "config.h"

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "pds-hub-records.h"
#include "pds-hub-store.h"
#include "pds-pcapng-writer.h"
#include "pds-pcapng.h"
#include "pds-record-codec.h"

typedef struct {
	gchar *dir;
	PdsHubNames *names;
	PdsHubStore *store;
	guint32 if_id;
} Fixture;

static void
fixture_setup(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(PdsPcapngOptions) opts = pds_pcapng_options_new();
	g_autoptr(GByteArray) idb = g_byte_array_new();
	PdsHubStoreConfig config = {0};
	const char *key = "src-1/0/1/shop/web-1/eth0";

	f->dir = g_dir_make_tmp("pds-hub-records-XXXXXX", &error);
	g_assert_no_error(error);
	config.data_dir = f->dir;
	config.chunk_size = 1 << 20;
	config.retention = 8 << 20;
	config.ring_size = 1 << 20;
	f->names = pds_hub_names_new();
	f->store = pds_hub_store_new(&config, f->names);
	g_assert_null(pds_hub_store_get_failure(f->store));

	pds_pcapng_options_add_string(opts, PDS_PCAPNG_IF_NAME, "shop/web-1/eth0");
	pds_pcapng_options_add_custom_kv(opts, pds_hub_store_interface_key_option(), key);
	pds_pcapng_write_idb(idb, PDS_LINKTYPE_ETHERNET, 262144, opts);
	f->if_id = pds_hub_store_add_interface(f->store, key, idb->data, idb->len);
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
	g_autoptr(GDir) dir = g_dir_open(f->dir, 0, NULL);
	const char *name;

	pds_hub_store_free(f->store);
	pds_hub_names_free(f->names);
	while (dir != NULL && (name = g_dir_read_name(dir)) != NULL) {
		g_autofree gchar *path = g_build_filename(f->dir, name, NULL);
		g_unlink(path);
	}
	g_rmdir(f->dir);
	g_free(f->dir);
}

static void
add_record(GByteArray *batch, GBytes *record)
{
	pds_pcapng_write_custom(batch, PDS_PEN, g_bytes_get_data(record, NULL),
				g_bytes_get_size(record), TRUE);
}

static GBytes *
make_http_record(guint32 if_id)
{
	PdsRecordBuilder *b = pds_record_builder_new(PDS_RECORD_FLOW, if_id, 1700000000123456789);
	const guint8 src[4] = {10, 0, 0, 1}, dst[4] = {10, 0, 0, 2};

	pds_record_builder_add_u8(b, PDS_FLOW_EVENT, PDS_FLOW_EVENT_HTTP_EXCHANGE);
	pds_record_builder_add(b, PDS_FLOW_SRC_ADDR, src, 4);
	pds_record_builder_add(b, PDS_FLOW_DST_ADDR, dst, 4);
	pds_record_builder_add_u16(b, PDS_FLOW_SRC_PORT, 40000);
	pds_record_builder_add_u16(b, PDS_FLOW_DST_PORT, 8080);
	pds_record_builder_add_string(b, PDS_FLOW_DST_NAME, "web-1.shop");
	pds_record_builder_add_string(b, PDS_FLOW_HTTP_METHOD, "GET");
	pds_record_builder_add_string(b, PDS_FLOW_HTTP_URI, "/a \"quoted\"\npath");
	pds_record_builder_add_u16(b, PDS_FLOW_HTTP_STATUS, 404);
	pds_record_builder_add_u64(b, PDS_FLOW_T_SERVER, 1500000);
	pds_record_builder_add_string(b, PDS_FLOW_HTTP_REQUEST_HEADER, "Host: web");
	pds_record_builder_add_string(b, PDS_FLOW_HTTP_REQUEST_HEADER, "Accept: */*");
	return pds_record_builder_end(b);
}

static GBytes *
make_file_record(void)
{
	PdsRecordBuilder *b =
		pds_record_builder_new(PDS_RECORD_FILE_ACCESS, G_MAXUINT32, 1700000000200000000);
	const guint8 bad_utf8[] = {'/', 'x', 0xff, 'y'};

	pds_record_builder_add_string(b, PDS_FILE_SYSCALL, "openat");
	pds_record_builder_add(b, PDS_FILE_PATH, bad_utf8, sizeof(bad_utf8));
	pds_record_builder_add_u32(b, PDS_FILE_TGID, 4242);
	pds_record_builder_add_string(b, PDS_FILE_CONTAINER_NAME, "app");
	pds_record_builder_add_i64(b, PDS_FILE_RESULT, -2);
	pds_record_builder_add_string(b, PDS_FILE_POD, "web-1");
	return pds_record_builder_end(b);
}

static GBytes *
make_source_record(void)
{
	PdsRecordBuilder *b = pds_record_builder_new(PDS_RECORD_SOURCE, G_MAXUINT32, 1);
	pds_record_builder_add_string(b, PDS_SOURCE_ROLE, "agent");
	return pds_record_builder_end(b);
}

static void
test_records_json(Fixture *f, gconstpointer data)
{
	g_autoptr(GByteArray) batch = g_byte_array_new();
	g_autoptr(GBytes) http = make_http_record(f->if_id);
	g_autoptr(GBytes) file = make_file_record();
	g_autoptr(GBytes) source = make_source_record();
	g_autoptr(PdsHubRecords) records = pds_hub_records_new(f->store);
	g_autoptr(PdsHubStoreCursor) cursor = pds_hub_store_cursor_new(f->store);
	g_autoptr(GString) out = g_string_new("[");
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(GError) error = NULL;
	const guint8 packet[60] = {0};
	const guint8 *block;
	gsize len;
	guint n = 0;
	JsonArray *array;
	JsonObject *o;
	JsonArray *headers;

	pds_pcapng_write_epb(batch, f->if_id, 1, packet, sizeof(packet), sizeof(packet), NULL);
	add_record(batch, source);
	add_record(batch, http);
	add_record(batch, file);
	pds_hub_store_append_batch(f->store, batch, "src-1", 4);

	while (pds_hub_store_cursor_next(cursor, &block, &len)) {
		guint64 index = pds_hub_store_cursor_get_index(cursor) - 1;
		gsize mark = out->len;
		if (n > 0)
			g_string_append_c(out, ',');
		if (pds_hub_records_append_json(records, index, block, len, out))
			n++;
		else
			g_string_truncate(out, mark);
	}
	g_string_append_c(out, ']');
	/* The packet and the source record are not for the viewer. */
	g_assert_cmpuint(n, ==, 2);

	json_parser_load_from_data(parser, out->str, -1, &error);
	g_assert_no_error(error);
	array = json_node_get_array(json_parser_get_root(parser));
	g_assert_cmpuint(json_array_get_length(array), ==, 2);

	o = json_array_get_object_element(array, 0);
	g_assert_cmpstr(json_object_get_string_member(o, "record_type"), ==, "flow");
	g_assert_cmpstr(json_object_get_string_member(o, "event"), ==, "http_exchange");
	g_assert_cmpstr(json_object_get_string_member(o, "source_namespace"), ==, "shop");
	g_assert_cmpstr(json_object_get_string_member(o, "source_pod"), ==, "web-1");
	g_assert_cmpstr(json_object_get_string_member(o, "source_interface"), ==, "eth0");
	g_assert_cmpstr(json_object_get_string_member(o, "src_addr"), ==, "10.0.0.1");
	g_assert_cmpstr(json_object_get_string_member(o, "dst_name"), ==, "web-1.shop");
	g_assert_cmpstr(json_object_get_string_member(o, "http_uri"), ==, "/a \"quoted\"\npath");
	g_assert_cmpint(json_object_get_int_member(o, "http_status"), ==, 404);
	g_assert_cmpint(json_object_get_int_member(o, "t_server"), ==, 1500000);
	headers = json_object_get_array_member(o, "http_request_headers");
	g_assert_cmpuint(json_array_get_length(headers), ==, 2);
	g_assert_cmpstr(json_array_get_string_element(headers, 1), ==, "Accept: */*");

	o = json_array_get_object_element(array, 1);
	g_assert_cmpstr(json_object_get_string_member(o, "record_type"), ==, "file_access");
	g_assert_false(json_object_has_member(o, "source_pod"));
	g_assert_cmpstr(json_object_get_string_member(o, "syscall"), ==, "openat");
	/* Invalid UTF-8 is replaced, never passed on as broken JSON. */
	g_assert_true(g_str_has_prefix(json_object_get_string_member(o, "path"), "/x"));
	g_assert_true(g_str_has_suffix(json_object_get_string_member(o, "path"), "y"));
	g_assert_cmpint(json_object_get_int_member(o, "tgid"), ==, 4242);
	g_assert_cmpint(json_object_get_int_member(o, "result"), ==, -2);
	g_assert_cmpstr(json_object_get_string_member(o, "container_name"), ==, "app");
	g_assert_cmpstr(json_object_get_string_member(o, "pod"), ==, "web-1");
	g_assert_cmpint(json_object_get_int_member(o, "ts_ns"), ==, 1700000000200000000);
	g_assert_cmpint(
		json_object_get_int_member(o, "index"), >,
		json_object_get_int_member(json_array_get_object_element(array, 0), "index"));
}

static void
test_records_malformed(Fixture *f, gconstpointer data)
{
	g_autoptr(PdsHubRecords) records = pds_hub_records_new(f->store);
	g_autoptr(GByteArray) batch = g_byte_array_new();
	g_autoptr(GBytes) http = make_http_record(f->if_id);
	g_autoptr(GString) out = g_string_new("keep");
	gsize len;

	add_record(batch, http);
	len = batch->len;
	/* A record whose length claims more than its block holds. */
	batch->data[12 + 4] = 0xff;
	g_assert_false(pds_hub_records_append_json(records, 1, batch->data, len, out));
	g_assert_cmpstr(out->str, ==, "keep");
	/* Too short to be a record at all. */
	g_assert_false(pds_hub_records_append_json(records, 1, batch->data, 20, out));
	g_assert_cmpstr(out->str, ==, "keep");
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add("/hub/records/json", Fixture, NULL, fixture_setup, test_records_json,
		   fixture_teardown);
	g_test_add("/hub/records/malformed", Fixture, NULL, fixture_setup, test_records_malformed,
		   fixture_teardown);
	return g_test_run();
}
