/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The extcap's file-access filter on the golden files: fed in awkward
 * pieces, it leaves out exactly the file-access records of both envelopes
 * and passes every other block unchanged.
 */
#include "config.h"

#define G_LOG_DOMAIN "PdsTest"

#include <glib/gstdio.h>
#include <unistd.h>

#include "pds-extcap-filter.h"
#include "pds-pcapng-reader.h"
#include "pds-record-codec.h"

typedef struct {
	guint blocks;
	guint file_records;
	guint other_records;
} Count;

static gboolean
count_block(PdsPcapngReader *reader,
	    const PdsPcapngBlock *block,
	    gpointer user_data,
	    GError **error)
{
	Count *count = user_data;
	const guint8 *record = NULL;
	gsize len = 0;
	PdsRecordHeader header;

	count->blocks++;
	if (block->type == PDS_PCAPNG_BT_CUSTOM) {
		record = block->custom_data;
		len = block->custom_len;
	} else if (block->type == PDS_PCAPNG_BT_EPB) {
		const PdsPcapngInterface *iface =
			pds_pcapng_reader_get_interface(reader, block->interface_id);
		if (iface != NULL && iface->linktype == PDS_LINKTYPE_WIRESHARK_UPPER_PDU)
			record = pds_record_from_exported_pdu(block->packet, block->caplen, &len);
	}
	if (record != NULL && pds_record_parse_header(record, len, &header, NULL)) {
		if (header.type == PDS_RECORD_FILE_ACCESS)
			count->file_records++;
		else
			count->other_records++;
	}
	return TRUE;
}

static void
test_filter_file(gconstpointer data)
{
	const char *name = data;
	g_autofree gchar *path = g_test_build_filename(G_TEST_DIST, "data", name, NULL);
	g_autofree gchar *contents = NULL;
	g_autofree gchar *out_path = NULL;
	gsize len = 0;
	g_autoptr(GError) error = NULL;
	g_autoptr(GOutputStream) mem = g_memory_output_stream_new_resizable();
	g_autoptr(PdsExtcapFilter) filter = pds_extcap_filter_new(mem);
	Count before = {0};
	Count after = {0};
	gsize off = 0;
	guint piece = 1;

	g_assert_true(g_file_get_contents(path, &contents, &len, &error));
	g_assert_no_error(error);
	g_assert_true(pds_pcapng_read_file(path, count_block, &before, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(before.file_records, >, 0);

	/* Pieces of 1, 2, 3, ... 97 bytes: blocks split everywhere. */
	while (off < len) {
		gsize n = MIN((gsize)piece, len - off);
		g_assert_true(g_output_stream_write_all(G_OUTPUT_STREAM(filter), contents + off, n,
							NULL, NULL, &error));
		g_assert_no_error(error);
		off += n;
		piece = piece % 97 + 1;
	}
	g_assert_true(g_output_stream_close(G_OUTPUT_STREAM(filter), NULL, &error));
	g_assert_no_error(error);
	g_assert_true(g_output_stream_close(mem, NULL, &error));

	out_path = g_build_filename(g_get_tmp_dir(), "pds-filter-XXXXXX.pcapng", NULL);
	{
		int fd = g_mkstemp(out_path);
		g_assert_cmpint(fd, >=, 0);
		close(fd);
	}
	g_assert_true(g_file_set_contents(
		out_path, g_memory_output_stream_get_data(G_MEMORY_OUTPUT_STREAM(mem)),
		(gssize)g_memory_output_stream_get_data_size(G_MEMORY_OUTPUT_STREAM(mem)), &error));
	g_assert_true(pds_pcapng_read_file(out_path, count_block, &after, &error));
	g_assert_no_error(error);
	g_unlink(out_path);

	g_assert_cmpuint(after.file_records, ==, 0);
	g_assert_cmpuint(after.other_records, ==, before.other_records);
	g_assert_cmpuint(after.blocks, ==, before.blocks - before.file_records);
	g_assert_cmpuint(pds_extcap_filter_get_dropped(filter), ==, before.file_records);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_data_func("/extcap/filter/exported-pdu", "podscope-exported-pdu.pcapng",
			     test_filter_file);
	g_test_add_data_func("/extcap/filter/custom-block", "podscope-custom-block.pcapng",
			     test_filter_file);
	g_test_add_data_func("/extcap/filter/big-endian", "podscope-big-endian.pcapng",
			     test_filter_file);
	return g_test_run();
}
