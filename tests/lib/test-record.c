/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * PodScope records: build/parse round trips, strict rejection of malformed
 * records, both envelopes, and the exported-PDU form as real tshark sees it.
 */
#include "config.h"

#define G_LOG_DOMAIN "PdsTestRecord"

#include <string.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "pds-pcapng-reader.h"
#include "pds-pcapng-writer.h"
#include "pds-record-codec.h"

static const guint64 ts_sample = G_GUINT64_CONSTANT(1700000000123456789);

static GBytes *
make_file_record(void)
{
	g_autoptr(PdsRecordBuilder) b =
		pds_record_builder_new(PDS_RECORD_FILE_ACCESS, 3, ts_sample);
	const guint8 blob[] = {0, 1, 2, 0xff, 0xfe};

	pds_record_builder_add_string(b, PDS_FILE_SYSCALL, "openat");
	pds_record_builder_add_string(b, PDS_FILE_PATH, "/etc/passwd");
	pds_record_builder_add_u32(b, PDS_FILE_PID, 4242);
	pds_record_builder_add_u64(b, PDS_FILE_CGROUP_ID, G_GUINT64_CONSTANT(0x1122334455667788));
	pds_record_builder_add_i64(b, PDS_FILE_RESULT, -13);
	pds_record_builder_add_u8(b, PDS_FILE_COMPAT, 1);
	pds_record_builder_add_u16(b, 999, 0xbeef); /* a code no reader knows */
	pds_record_builder_add(b, 1000, blob, sizeof(blob));
	pds_record_builder_add_string(b, PDS_FILE_RAW_PATH, "");
	return pds_record_builder_end(b);
}

static void
check_file_record(const guint8 *data, gsize len)
{
	g_autoptr(GError) error = NULL;
	PdsRecordHeader h;
	PdsRecordIter iter;
	guint16 code, flen;
	const guint8 *value;
	guint n = 0;

	g_assert_true(pds_record_iter_init(&iter, data, len, &h, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(h.type, ==, PDS_RECORD_FILE_ACCESS);
	g_assert_cmpuint(h.version, ==, PDS_RECORD_VERSION);
	g_assert_cmpuint(h.interface_id, ==, 3);
	g_assert_cmpuint(h.timestamp_ns, ==, ts_sample);
	g_assert_cmpuint(h.length % 4, ==, 0);

	while (pds_record_iter_next(&iter, &code, &value, &flen, &error)) {
		g_autofree gchar *s = NULL;
		guint8 u8;
		guint16 u16;
		guint32 u32;
		guint64 u64;

		switch (n++) {
		case 0:
			g_assert_cmpuint(code, ==, PDS_FILE_SYSCALL);
			s = pds_record_value_dup_string(value, flen);
			g_assert_cmpstr(s, ==, "openat");
			break;
		case 1:
			g_assert_cmpuint(code, ==, PDS_FILE_PATH);
			s = pds_record_value_dup_string(value, flen);
			g_assert_cmpstr(s, ==, "/etc/passwd");
			break;
		case 2:
			g_assert_cmpuint(code, ==, PDS_FILE_PID);
			g_assert_true(pds_record_value_u32(value, flen, &u32));
			g_assert_cmpuint(u32, ==, 4242);
			g_assert_false(pds_record_value_u64(value, flen, &u64));
			g_assert_false(pds_record_value_u16(value, flen, &u16));
			break;
		case 3:
			g_assert_cmpuint(code, ==, PDS_FILE_CGROUP_ID);
			g_assert_true(pds_record_value_u64(value, flen, &u64));
			g_assert_cmpuint(u64, ==, G_GUINT64_CONSTANT(0x1122334455667788));
			break;
		case 4:
			g_assert_cmpuint(code, ==, PDS_FILE_RESULT);
			g_assert_true(pds_record_value_u64(value, flen, &u64));
			g_assert_cmpint((gint64)u64, ==, -13);
			break;
		case 5:
			g_assert_cmpuint(code, ==, PDS_FILE_COMPAT);
			g_assert_true(pds_record_value_u8(value, flen, &u8));
			g_assert_cmpuint(u8, ==, 1);
			g_assert_false(pds_record_value_u32(value, flen, &u32));
			break;
		case 6:
			g_assert_cmpuint(code, ==, 999);
			g_assert_true(pds_record_value_u16(value, flen, &u16));
			g_assert_cmpuint(u16, ==, 0xbeef);
			g_assert_false(pds_record_value_u8(value, flen, &u8));
			break;
		case 7:
			g_assert_cmpuint(code, ==, 1000);
			g_assert_cmpmem(value, flen, ((const guint8[]){0, 1, 2, 0xff, 0xfe}), 5);
			break;
		case 8:
			g_assert_cmpuint(code, ==, PDS_FILE_RAW_PATH);
			g_assert_cmpuint(flen, ==, 0);
			s = pds_record_value_dup_string(value, flen);
			g_assert_cmpstr(s, ==, "");
			break;
		default:
			g_assert_not_reached();
		}
	}
	g_assert_no_error(error);
	g_assert_cmpuint(n, ==, 9);
	/* Spent iterators stay spent. */
	g_assert_false(pds_record_iter_next(&iter, &code, &value, &flen, &error));
	g_assert_no_error(error);
}

static void
test_roundtrip(void)
{
	g_autoptr(GBytes) rec = make_file_record();
	gsize len;
	const guint8 *data = g_bytes_get_data(rec, &len);
	guint32 record_length;

	/* 20 header + 4+8 + 4+12 + 4+4 + 4+8 + 4+8 + 4+4 + 4+4 + 4+8 + 4+0 + 4 end */
	g_assert_cmpuint(len, ==, 20 + 12 + 16 + 8 + 12 + 12 + 8 + 8 + 12 + 4 + 4);
	memcpy(&record_length, data + 4, 4);
	g_assert_cmpuint(GUINT32_FROM_LE(record_length), ==, len);
	/* Header bytes are little-endian, whatever the host. */
	g_assert_cmpuint(data[0], ==, 1);
	g_assert_cmpuint(data[1], ==, 0);
	g_assert_cmpuint(data[2], ==, 1);
	check_file_record(data, len);

	/* A record followed by other bytes: record_length says where it ends. */
	{
		g_autoptr(GByteArray) more = g_byte_array_new();
		PdsRecordHeader h;
		g_autoptr(GError) error = NULL;

		g_byte_array_append(more, data, (guint)len);
		g_byte_array_append(more, (const guint8 *)"trailing", 8);
		g_assert_true(pds_record_parse_header(more->data, more->len, &h, &error));
		g_assert_cmpuint(h.length, ==, len);
		check_file_record(more->data, more->len);
	}
}

static void
test_empty_record(void)
{
	g_autoptr(PdsRecordBuilder) b = pds_record_builder_new(PDS_RECORD_SOURCE, 0, 0);
	g_autoptr(GBytes) rec = pds_record_builder_end(b);
	g_autoptr(GError) error = NULL;
	PdsRecordIter iter;
	PdsRecordHeader h;

	g_assert_cmpuint(g_bytes_get_size(rec), ==, 24);
	g_assert_true(pds_record_iter_init(&iter, g_bytes_get_data(rec, NULL),
					   g_bytes_get_size(rec), &h, &error));
	g_assert_cmpuint(h.type, ==, PDS_RECORD_SOURCE);
	g_assert_false(pds_record_iter_next(&iter, NULL, NULL, NULL, &error));
	g_assert_no_error(error);
}

/* ---- Malformed records ---- */

static GByteArray *
good_copy(void)
{
	g_autoptr(GBytes) rec = make_file_record();
	GByteArray *a = g_byte_array_new();

	g_byte_array_append(a, g_bytes_get_data(rec, NULL), (guint)g_bytes_get_size(rec));
	return a;
}

static void
set_u16(GByteArray *a, gsize at, guint16 v)
{
	v = GUINT16_TO_LE(v);
	memcpy(a->data + at, &v, 2);
}

static void
set_u32(GByteArray *a, gsize at, guint32 v)
{
	v = GUINT32_TO_LE(v);
	memcpy(a->data + at, &v, 4);
}

static void
test_malformed(void)
{
	const struct {
		const char *name;
		gint code;
		const char *what;
		gboolean header_ok; /* the header alone parses; the fields do not */
	} cases[] = {
		{"short", PDS_RECORD_ERROR_TRUNCATED, "shorter than its 20-byte header", FALSE},
		{"version", PDS_RECORD_ERROR_BAD_VERSION, "version 2", FALSE},
		{"length-below-header", PDS_RECORD_ERROR_BAD_LENGTH, "record length 19", FALSE},
		{"length-beyond-data", PDS_RECORD_ERROR_TRUNCATED, "more than the", FALSE},
		{"length-beyond-max", PDS_RECORD_ERROR_BAD_LENGTH, "outside", FALSE},
		{"field-beyond-record", PDS_RECORD_ERROR_BAD_FIELD, "beyond the record", TRUE},
		{"no-end-code", PDS_RECORD_ERROR_BAD_FIELD, "without its end code", TRUE},
		{"header-only", PDS_RECORD_ERROR_BAD_FIELD, "without its end code", TRUE},
		{"end-past-length", PDS_RECORD_ERROR_BAD_FIELD, "beyond the record", TRUE},
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GByteArray) a = good_copy();
		g_autoptr(GError) error = NULL;
		PdsRecordIter iter;
		PdsRecordHeader h;
		gsize len = a->len;

		switch (i) {
		case 0:
			len = 19;
			break;
		case 1:
			set_u16(a, 2, 2);
			break;
		case 2:
			set_u32(a, 4, 19);
			break;
		case 3:
			len = a->len - 4;
			break;
		case 4:
			set_u32(a, 4, PDS_RECORD_MAX_LEN + 4);
			break;
		case 5:
			/* The first field (syscall) claims 200 bytes. */
			set_u16(a, 22, 200);
			break;
		case 6:
			/* Drop the end code: length shrinks by 4 and the last 4 bytes are gone. */
			set_u32(a, 4, a->len - 4);
			len = a->len - 4;
			break;
		case 7:
			set_u32(a, 4, 20);
			len = 20;
			break;
		case 8:
			/* The record claims to end inside its last field's value. */
			set_u32(a, 4, a->len - 16);
			break;
		default:
			g_assert_not_reached();
		}
		g_test_message("case %s", cases[i].name);
		if (cases[i].header_ok) {
			g_assert_true(pds_record_parse_header(a->data, len, &h, &error));
			g_assert_no_error(error);
		} else {
			g_assert_false(pds_record_parse_header(a->data, len, &h, &error));
			g_assert_error(error, PDS_RECORD_ERROR, cases[i].code);
			g_clear_error(&error);
		}
		g_assert_false(pds_record_iter_init(&iter, a->data, len, &h, &error));
		g_assert_error(error, PDS_RECORD_ERROR, cases[i].code);
		g_test_message("%s: %s", cases[i].name, error->message);
		if (strstr(error->message, cases[i].what) == NULL)
			g_error("%s: message \"%s\" lacks \"%s\"", cases[i].name, error->message,
				cases[i].what);
		/* A failed init leaves nothing to iterate. */
		g_clear_error(&error);
		g_assert_false(pds_record_iter_next(&iter, NULL, NULL, NULL, &error));
		g_assert_no_error(error);
	}

	/* Every truncation of a good record is refused, never read past. */
	{
		g_autoptr(GByteArray) a = good_copy();

		for (gsize len = 0; len < a->len; len++) {
			g_autoptr(GError) error = NULL;
			PdsRecordIter iter;
			g_autofree guint8 *copy = g_memdup2(a->data, len);

			g_assert_false(pds_record_iter_init(&iter, copy, len, NULL, &error));
			g_assert_error(error, PDS_RECORD_ERROR, PDS_RECORD_ERROR_TRUNCATED);
		}
	}
}

static void
test_values(void)
{
	const guint8 v[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	guint8 u8;
	guint16 u16;
	guint32 u32;
	guint64 u64;
	g_autofree gchar *s = NULL;

	g_assert_true(pds_record_value_u8(v, 1, &u8));
	g_assert_cmpuint(u8, ==, 1);
	g_assert_true(pds_record_value_u16(v, 2, &u16));
	g_assert_cmpuint(u16, ==, 0x0201);
	g_assert_true(pds_record_value_u32(v, 4, &u32));
	g_assert_cmpuint(u32, ==, 0x04030201);
	g_assert_true(pds_record_value_u64(v, 8, &u64));
	g_assert_cmpuint(u64, ==, G_GUINT64_CONSTANT(0x0807060504030201));
	g_assert_false(pds_record_value_u8(v, 2, &u8));
	g_assert_false(pds_record_value_u16(v, 1, &u16));
	g_assert_false(pds_record_value_u32(v, 8, &u32));
	g_assert_false(pds_record_value_u64(v, 4, &u64));
	s = pds_record_value_dup_string((const guint8 *)"abcdef", 3);
	g_assert_cmpstr(s, ==, "abc");

	g_assert_cmpstr(pds_record_type_to_string(PDS_RECORD_FILE_ACCESS), ==, "file-access");
	g_assert_cmpstr(pds_record_type_to_string(PDS_RECORD_FLOW), ==, "flow");
	g_assert_cmpstr(pds_record_type_to_string(PDS_RECORD_SOURCE), ==, "source");
	g_assert_cmpstr(pds_record_type_to_string(PDS_RECORD_CONTROL), ==, "control");
	g_assert_cmpstr(pds_record_type_to_string(77), ==, "unknown");
}

/* ---- Envelopes ---- */

static void
test_custom_block(void)
{
	g_autoptr(GBytes) rec = make_file_record();
	g_autoptr(GByteArray) out = g_byte_array_new();
	g_autoptr(PdsPcapngReader) reader = pds_pcapng_reader_new();
	g_autoptr(GError) error = NULL;
	PdsPcapngBlock b;

	pds_pcapng_write_shb(out, NULL);
	pds_record_write_custom_block(out, rec);
	pds_pcapng_reader_feed(reader, out->data, out->len);
	g_assert_true(pds_pcapng_reader_next(reader, &b, &error));
	g_assert_true(pds_pcapng_reader_next(reader, &b, &error));
	g_assert_cmpuint(b.type, ==, PDS_PCAPNG_BT_CUSTOM);
	g_assert_cmpuint(b.pen, ==, PDS_PEN);
	g_assert_cmpuint(b.custom_len, ==, g_bytes_get_size(rec));
	check_file_record(b.custom_data, b.custom_len);
}

static void
test_exported_pdu(void)
{
	g_autoptr(GBytes) rec = make_file_record();
	g_autoptr(GByteArray) pdu = g_byte_array_new();
	const guint8 *data = g_bytes_get_data(rec, NULL);
	gsize len = g_bytes_get_size(rec), got_len = 0;
	const guint8 *got;
	/* Tag 12 "podscope", tag 0: 16 bytes, all big-endian. */
	const guint8 tags[] = {0, 12, 0, 8, 'p', 'o', 'd', 's', 'c', 'o', 'p', 'e', 0, 0, 0, 0};

	pds_record_append_exported_pdu(pdu, data, len);
	g_assert_cmpuint(pdu->len, ==, sizeof(tags) + len);
	g_assert_cmpmem(pdu->data, sizeof(tags), tags, sizeof(tags));
	got = pds_record_from_exported_pdu(pdu->data, pdu->len, &got_len);
	g_assert_true(got == pdu->data + sizeof(tags));
	g_assert_cmpuint(got_len, ==, len);
	check_file_record(got, got_len);

	/* Other writers: NUL padding in the name, extra tags before and after it. */
	{
		g_autoptr(GByteArray) other = g_byte_array_new();
		/* ipv4 src; name with 4 NULs counted in its length; column text; end. */
		/* clang-format off */
		const guint8 head[] = {
			0, 20, 0, 4, 10, 0, 0, 1,
			0, 12, 0, 12, 'p', 'o', 'd', 's', 'c', 'o', 'p', 'e', 0, 0, 0, 0,
			0, 33, 0, 3, 'a', 'b', 'c',
			0, 0, 0, 0,
		};
		/* clang-format on */

		g_byte_array_append(other, head, sizeof(head));
		g_byte_array_append(other, data, (guint)len);
		got = pds_record_from_exported_pdu(other->data, other->len, &got_len);
		g_assert_true(got == other->data + sizeof(head));
		g_assert_cmpuint(got_len, ==, len);
	}
	/* Not ours, or not well-formed: NULL. */
	{
		const guint8 http[] = {0, 12, 0, 4, 'h', 't', 't', 'p', 0, 0, 0, 0, 1, 2, 3};
		const guint8 prefix[] = {0, 12, 0, 4, 'p', 'o', 'd', 's', 0, 0, 0, 0, 1};
		const guint8 longer[] = {0,   12,  0,	9,   'p', 'o', 'd', 's', 'c',
					 'o', 'p', 'e', 's', 0,	  0,   0,   0,	 1};
		const guint8 no_end[] = {0, 12, 0, 8, 'p', 'o', 'd', 's', 'c', 'o', 'p', 'e'};
		const guint8 overrun[] = {0,   12,  0,	 40,  'p', 'o', 'd', 's',
					  'c', 'o', 'p', 'e', 0,   0,	0,   0};
		const guint8 unnamed[] = {0, 0, 0, 0, 1, 2, 3, 4};

		g_assert_null(pds_record_from_exported_pdu(http, sizeof(http), &got_len));
		g_assert_null(pds_record_from_exported_pdu(prefix, sizeof(prefix), &got_len));
		g_assert_null(pds_record_from_exported_pdu(longer, sizeof(longer), &got_len));
		g_assert_null(pds_record_from_exported_pdu(no_end, sizeof(no_end), &got_len));
		g_assert_null(pds_record_from_exported_pdu(overrun, sizeof(overrun), &got_len));
		g_assert_null(pds_record_from_exported_pdu(unnamed, sizeof(unnamed), &got_len));
		g_assert_null(pds_record_from_exported_pdu(tags, 3, &got_len));
	}
}

/* Mutated records are refused or read within their bounds, never past them. */
static void
test_fuzz(void)
{
	g_autoptr(GBytes) rec = make_file_record();
	gsize rec_len = g_bytes_get_size(rec);
	guint n_ok = 0, n_err = 0;

	for (guint round = 0; round < 5000; round++) {
		g_autoptr(GByteArray) pdu = g_byte_array_new();
		g_autoptr(GError) error = NULL;
		g_autofree guint8 *copy = NULL;
		PdsRecordIter iter;
		PdsRecordHeader h;
		const guint8 *inner;
		gsize inner_len = 0, len;
		guint n_fields = 0;

		pds_record_append_exported_pdu(pdu, g_bytes_get_data(rec, NULL), rec_len);
		for (guint m = (guint)g_test_rand_int_range(1, 5); m > 0; m--) {
			guint at = (guint)g_test_rand_int_range(0, (gint32)pdu->len);

			if (g_test_rand_bit())
				pdu->data[at] = (guint8)g_test_rand_int_range(0, 256);
			else
				pdu->data[at] = (guint8)g_test_rand_int_range(0, 24);
		}
		/* A quarter of them cut short too. */
		len = g_test_rand_int_range(0, 4) == 0
			      ? (gsize)g_test_rand_int_range(0, (gint32)pdu->len + 1)
			      : pdu->len;
		/* An exact-size copy, so ASan sees any read past the end. */
		copy = g_memdup2(pdu->data, len);
		inner = pds_record_from_exported_pdu(copy, len, &inner_len);
		if (inner == NULL)
			continue;
		g_assert_true(inner >= copy && inner + inner_len == copy + len);
		if (!pds_record_iter_init(&iter, inner, inner_len, &h, &error)) {
			g_assert_true(error->domain == PDS_RECORD_ERROR);
			n_err++;
			continue;
		}
		g_assert_cmpuint(h.length, <=, inner_len);
		while (pds_record_iter_next(&iter, NULL, NULL, NULL, &error))
			n_fields++;
		g_assert_no_error(error);
		n_ok++;
	}
	g_test_message("fuzz: %u records read, %u refused", n_ok, n_err);
	g_assert_cmpuint(n_ok, >, 0);
	g_assert_cmpuint(n_err, >, 0);
}

/* A pcapng of records on a linktype-252 interface, as the hub serves them. */
static void
test_tshark_exported_pdu(void)
{
	g_autofree gchar *tshark = g_find_program_in_path("tshark");
	g_autoptr(GError) error = NULL;
	g_autoptr(GByteArray) file = g_byte_array_new();
	g_autoptr(PdsPcapngOptions) idb = pds_pcapng_options_new();
	g_autofree gchar *dir = NULL;
	g_autofree gchar *path = NULL;
	g_autofree gchar *out = NULL;
	g_autofree gchar *err = NULL;
	g_autoptr(GString) expected = g_string_new(NULL);
	gint status;
	gboolean with_bytes;

	if (tshark == NULL) {
		g_test_skip("tshark is not installed");
		return;
	}
	dir = g_dir_make_tmp(NULL, &error);
	g_assert_no_error(error);
	path = g_build_filename(dir, "records.pcapng", NULL);

	/*
	 * With a podscope dissector installed, the exported-PDU dissector hands it
	 * the record and shows no raw bytes; compare them only when none is.
	 */
	{
		const char *argv[] = {tshark, "-G", "protocols", NULL};

		g_assert_true(g_spawn_sync(NULL, (gchar **)argv, NULL, G_SPAWN_STDERR_TO_DEV_NULL,
					   NULL, NULL, &out, NULL, &status, &error));
		g_assert_no_error(error);
		g_assert_true(g_spawn_check_wait_status(status, NULL));
		/* Columns: name, short name, filter name (last). */
		with_bytes = strstr(out, "\tpodscope\n") == NULL;
		g_clear_pointer(&out, g_free);
	}

	pds_pcapng_write_shb(file, NULL);
	pds_pcapng_options_add_u8(idb, PDS_PCAPNG_IF_TSRESOL, 9);
	pds_pcapng_options_add_string(idb, PDS_PCAPNG_IF_NAME, "podscope records");
	pds_pcapng_write_idb(file, PDS_LINKTYPE_WIRESHARK_UPPER_PDU, 0, idb);
	for (guint i = 0; i < 3; i++) {
		guint64 t = ts_sample + i * G_GUINT64_CONSTANT(1000000007);
		g_autoptr(PdsRecordBuilder) b = pds_record_builder_new(PDS_RECORD_FLOW, 0, t);
		g_autoptr(GBytes) rec = NULL;
		g_autoptr(GByteArray) pdu = g_byte_array_new();
		const guint8 *rdata;
		gsize rlen;

		pds_record_builder_add_string(b, PDS_FLOW_HTTP_URI, i == 1 ? "/x" : "/index.html");
		rec = pds_record_builder_end(b);
		rdata = g_bytes_get_data(rec, &rlen);
		pds_record_append_exported_pdu(pdu, rdata, rlen);
		pds_pcapng_write_epb(file, 0, t, pdu->data, pdu->len, pdu->len, NULL);
		/* Frame = 16 bytes of tags + the record. */
		g_string_append_printf(
			expected, "%" G_GUINT64_FORMAT ".%09" G_GUINT64_FORMAT "\tpodscope\t%u",
			t / 1000000000, t % 1000000000, (guint)(16 + rlen));
		if (with_bytes) {
			g_string_append_c(expected, '\t');
			for (gsize k = 0; k < rlen; k++)
				g_string_append_printf(expected, "%02x", rdata[k]);
		}
		g_string_append_c(expected, '\n');
	}
	g_assert_true(g_file_set_contents(path, (const gchar *)file->data, file->len, &error));

	{
		const char *argv[] = {tshark,
				      "-r",
				      path,
				      "-Y",
				      "exported_pdu.prot_name == \"podscope\"",
				      "-T",
				      "fields",
				      "-e",
				      "frame.time_epoch",
				      "-e",
				      "exported_pdu.prot_name",
				      "-e",
				      "frame.len",
				      with_bytes ? "-e" : NULL,
				      "exported_pdu.exported_pdu",
				      NULL};

		g_assert_true(g_spawn_sync(NULL, (gchar **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL,
					   &out, &err, &status, &error));
		g_assert_no_error(error);
		if (!g_spawn_check_wait_status(status, &error))
			g_error("tshark failed: %s\n%s", error->message, err);
	}
	g_test_message("tshark says:\n%s", out);

	/* Time to the nanosecond, our dissector's name, the record right after the tags. */
	g_assert_cmpstr(out, ==, expected->str);

	g_unlink(path);
	g_rmdir(dir);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);

	g_test_add_func("/record/roundtrip", test_roundtrip);
	g_test_add_func("/record/empty", test_empty_record);
	g_test_add_func("/record/malformed", test_malformed);
	g_test_add_func("/record/values", test_values);
	g_test_add_func("/record/fuzz", test_fuzz);
	g_test_add_func("/record/envelope/custom-block", test_custom_block);
	g_test_add_func("/record/envelope/exported-pdu", test_exported_pdu);
	g_test_add_func("/record/tshark/exported-pdu", test_tshark_exported_pdu);
	return g_test_run();
}
