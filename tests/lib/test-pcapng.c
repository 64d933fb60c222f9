/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pcapng writer and reader: round trips, both byte orders, streaming in any
 * split, every malformed case, and files exchanged with real tshark/dumpcap.
 */
#include "config.h"

#define G_LOG_DOMAIN "PdsTestPcapng"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "pds-pcapng-reader.h"
#include "pds-pcapng-writer.h"

/* ---- A small independent block emitter, so byte orders are tested against
 * something other than our own writer. ---- */

typedef struct {
	GByteArray *a;
	gboolean be;
} Emit;

static void
e_u16(Emit *e, guint16 v)
{
	v = e->be ? GUINT16_TO_BE(v) : GUINT16_TO_LE(v);
	g_byte_array_append(e->a, (const guint8 *)&v, 2);
}

static void
e_u32(Emit *e, guint32 v)
{
	v = e->be ? GUINT32_TO_BE(v) : GUINT32_TO_LE(v);
	g_byte_array_append(e->a, (const guint8 *)&v, 4);
}

static void
e_u64(Emit *e, guint64 v)
{
	v = e->be ? GUINT64_TO_BE(v) : GUINT64_TO_LE(v);
	g_byte_array_append(e->a, (const guint8 *)&v, 8);
}

static void
e_bytes(Emit *e, const void *data, gsize len)
{
	static const guint8 zeros[4] = {0};

	g_byte_array_append(e->a, data, (guint)len);
	if (len % 4)
		g_byte_array_append(e->a, zeros, (guint)(4 - len % 4));
}

static void
e_opt(Emit *e, guint16 code, const void *data, guint16 len)
{
	e_u16(e, code);
	e_u16(e, len);
	e_bytes(e, data, len);
}

static void
e_opt_u32(Emit *e, guint16 code, guint32 v)
{
	e_u16(e, code);
	e_u16(e, 4);
	e_u32(e, v);
}

static void
e_opt_u64(Emit *e, guint16 code, guint64 v)
{
	e_u16(e, code);
	e_u16(e, 8);
	e_u64(e, v);
}

static void
e_opt_end(Emit *e)
{
	e_u32(e, 0);
}

static guint
e_begin(Emit *e, guint32 type)
{
	guint start = e->a->len;

	e_u32(e, type);
	e_u32(e, 0);
	return start;
}

static void
e_end(Emit *e, guint start)
{
	guint32 total = e->a->len - start + 4;
	guint32 v = e->be ? GUINT32_TO_BE(total) : GUINT32_TO_LE(total);

	memcpy(e->a->data + start + 4, &v, 4);
	e_u32(e, total);
}

static void
e_shb(Emit *e, const char *userappl)
{
	guint s = e_begin(e, PDS_PCAPNG_BT_SHB);

	e_u32(e, PDS_PCAPNG_BYTE_ORDER_MAGIC);
	e_u16(e, 1);
	e_u16(e, 0);
	e_u64(e, G_MAXUINT64);
	if (userappl != NULL) {
		e_opt(e, PDS_PCAPNG_SHB_USERAPPL, userappl, (guint16)strlen(userappl));
		e_opt_end(e);
	}
	e_end(e, s);
}

static void
e_idb(Emit *e, guint16 linktype, guint32 snaplen, gint tsresol, const char *name)
{
	guint s = e_begin(e, PDS_PCAPNG_BT_IDB);

	e_u16(e, linktype);
	e_u16(e, 0);
	e_u32(e, snaplen);
	if (tsresol >= 0) {
		guint8 r = (guint8)tsresol;
		e_opt(e, PDS_PCAPNG_IF_TSRESOL, &r, 1);
	}
	if (name != NULL)
		e_opt(e, PDS_PCAPNG_IF_NAME, name, (guint16)strlen(name));
	if (tsresol >= 0 || name != NULL)
		e_opt_end(e);
	e_end(e, s);
}

static void
e_epb(Emit *e, guint32 ifid, guint64 ts, const void *data, guint32 caplen, guint32 origlen)
{
	guint s = e_begin(e, PDS_PCAPNG_BT_EPB);

	e_u32(e, ifid);
	e_u32(e, (guint32)(ts >> 32));
	e_u32(e, (guint32)ts);
	e_u32(e, caplen);
	e_u32(e, origlen);
	e_bytes(e, data, caplen);
	e_end(e, s);
}

/* ---- Reading back ---- */

/* A deep copy of what a block said, to compare across reads. */
typedef struct {
	PdsPcapngBlock b;
	GBytes *raw;
} SavedBlock;

static void
saved_block_free(gpointer data)
{
	SavedBlock *s = data;

	g_bytes_unref(s->raw);
	g_free(s);
}

static SavedBlock *
save_block(const PdsPcapngBlock *b)
{
	SavedBlock *s = g_new0(SavedBlock, 1);

	s->b = *b;
	s->raw = g_bytes_new(b->raw, b->length);
	/* The pointers die with the reader's buffer; keep offsets only. */
	s->b.raw = s->b.body = s->b.packet = s->b.custom_data = s->b.nrb_records = s->b.options =
		NULL;
	return s;
}

/* Feeds @data in pieces of @step bytes (0 = all at once), collecting blocks. */
static GPtrArray *
read_all(const guint8 *data, gsize len, gsize step, GError **error)
{
	g_autoptr(PdsPcapngReader) reader = pds_pcapng_reader_new();
	g_autoptr(GPtrArray) blocks = g_ptr_array_new_with_free_func(saved_block_free);
	PdsPcapngBlock block;
	gsize pos = 0;

	if (step == 0)
		step = len;
	do {
		gsize n = MIN(step, len - pos);

		pds_pcapng_reader_feed(reader, data + pos, n);
		pos += n;
		while (pds_pcapng_reader_next(reader, &block, error))
			g_ptr_array_add(blocks, save_block(&block));
		if (error != NULL && *error != NULL)
			return NULL;
	} while (pos < len);
	if (!pds_pcapng_reader_finish(reader, error))
		return NULL;
	g_assert_cmpuint(pds_pcapng_reader_get_offset(reader), ==, len);
	return g_steal_pointer(&blocks);
}

/*
 * The same through pds_pcapng_reader_feed_borrowed(): each piece lives in a
 * scratch buffer that is released and then overwritten before the next, so a
 * block that kept pointing into it would read garbage.
 */
static GPtrArray *
read_all_borrowed_counted(
	const guint8 *data, gsize len, gsize step, guint64 *copied, GError **error)
{
	g_autoptr(PdsPcapngReader) reader = pds_pcapng_reader_new();
	g_autoptr(GPtrArray) blocks = g_ptr_array_new_with_free_func(saved_block_free);
	g_autofree guint8 *scratch = g_malloc(MAX(step, 1));
	PdsPcapngBlock block;
	gsize pos = 0;

	do {
		gsize n = MIN(step, len - pos);

		memcpy(scratch, data + pos, n);
		pds_pcapng_reader_feed_borrowed(reader, scratch, n);
		pos += n;
		while (pds_pcapng_reader_next(reader, &block, error))
			g_ptr_array_add(blocks, save_block(&block));
		if (error != NULL && *error != NULL)
			return NULL;
		pds_pcapng_reader_release_input(reader);
		memset(scratch, 0xaa, n);
	} while (pos < len);
	if (!pds_pcapng_reader_finish(reader, error))
		return NULL;
	g_assert_cmpuint(pds_pcapng_reader_get_offset(reader), ==, len);
	if (copied != NULL)
		*copied = pds_pcapng_reader_get_copied_bytes(reader);
	return g_steal_pointer(&blocks);
}

static GPtrArray *
read_all_borrowed(const guint8 *data, gsize len, gsize step, GError **error)
{
	return read_all_borrowed_counted(data, len, step, NULL, error);
}

static void
assert_same_blocks(GPtrArray *a, GPtrArray *b)
{
	g_assert_cmpuint(a->len, ==, b->len);
	for (guint i = 0; i < a->len; i++) {
		SavedBlock *x = g_ptr_array_index(a, i);
		SavedBlock *y = g_ptr_array_index(b, i);

		g_assert_cmpuint(x->b.type, ==, y->b.type);
		g_assert_cmpuint(x->b.offset, ==, y->b.offset);
		g_assert_cmpuint(x->b.length, ==, y->b.length);
		g_assert_cmpuint(x->b.section, ==, y->b.section);
		g_assert_cmpint(x->b.big_endian, ==, y->b.big_endian);
		g_assert_cmpuint(x->b.interface_id, ==, y->b.interface_id);
		g_assert_cmpuint(x->b.timestamp, ==, y->b.timestamp);
		g_assert_cmpuint(x->b.timestamp_ns, ==, y->b.timestamp_ns);
		g_assert_cmpuint(x->b.caplen, ==, y->b.caplen);
		g_assert_cmpuint(x->b.origlen, ==, y->b.origlen);
		g_assert_cmpuint(x->b.pen, ==, y->b.pen);
		g_assert_cmpuint(x->b.custom_len, ==, y->b.custom_len);
		g_assert_cmpuint(x->b.options_len, ==, y->b.options_len);
		g_assert_true(g_bytes_equal(x->raw, y->raw));
	}
}

static gchar *
option_string(const PdsPcapngBlock *b, guint16 code)
{
	return pds_pcapng_block_dup_option_string(b, code);
}

/* ---- Writer -> reader round trip of every block type ---- */

static const guint8 packet1[] = {0xde, 0xad, 0xbe, 0xef, 0x01};
static const guint8 custom1[] = {1, 2, 3, 4, 5, 6, 7};

static GByteArray *
write_sample(void)
{
	GByteArray *out = g_byte_array_new();
	g_autoptr(PdsPcapngOptions) shb = pds_pcapng_options_new();
	g_autoptr(PdsPcapngOptions) idb = pds_pcapng_options_new();
	g_autoptr(PdsPcapngOptions) idb2 = pds_pcapng_options_new();
	g_autoptr(PdsPcapngOptions) epb = pds_pcapng_options_new();
	g_autoptr(PdsPcapngOptions) isb = pds_pcapng_options_new();
	g_autoptr(PdsPcapngNrb) nrb = pds_pcapng_nrb_new();
	const guint8 v4[4] = {10, 1, 2, 3};
	const guint8 v6[16] = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};

	g_assert_true(pds_pcapng_options_is_empty(shb));
	pds_pcapng_options_add_string(shb, PDS_PCAPNG_SHB_USERAPPL, "podscope-agent 0.1.0");
	pds_pcapng_options_add_string(shb, PDS_PCAPNG_SHB_HARDWARE, "node-a");
	pds_pcapng_options_add_custom_kv(shb, "pod", "web-7d9c");
	pds_pcapng_options_add_custom_kv(shb, "namespace", "default");
	g_assert_false(pds_pcapng_options_is_empty(shb));
	pds_pcapng_write_shb(out, shb);

	pds_pcapng_options_add_u8(idb, PDS_PCAPNG_IF_TSRESOL, 9);
	pds_pcapng_options_add_string(idb, PDS_PCAPNG_IF_NAME, "default/web-7d9c/eth0");
	pds_pcapng_options_add_string(idb, PDS_PCAPNG_IF_DESCRIPTION, "podscope-agent on node-a");
	pds_pcapng_write_idb(out, PDS_LINKTYPE_ETHERNET, 262144, idb);
	/* Second interface: no options at all, so the default microseconds apply. */
	pds_pcapng_write_idb(out, PDS_LINKTYPE_RAW, 65535, NULL);
	pds_pcapng_options_add_u8(idb2, PDS_PCAPNG_IF_TSRESOL, 0x80 | 10);
	pds_pcapng_write_idb(out, PDS_LINKTYPE_WIRESHARK_UPPER_PDU, 0, idb2);

	pds_pcapng_options_add_u32(epb, PDS_PCAPNG_EPB_FLAGS, 0x1);
	pds_pcapng_options_add_u64(epb, PDS_PCAPNG_EPB_DROPCOUNT, 7);
	pds_pcapng_options_add_u64(epb, PDS_PCAPNG_EPB_PACKETID,
				   G_GUINT64_CONSTANT(0x1122334455667788));
	pds_pcapng_options_add_string(epb, PDS_PCAPNG_OPT_COMMENT, "hello");
	pds_pcapng_write_epb(out, 0, G_GUINT64_CONSTANT(1700000000123456789), packet1,
			     sizeof(packet1), 1500, epb);
	pds_pcapng_write_epb(out, 1, G_GUINT64_CONSTANT(1700000000654321), packet1, 4, 4, NULL);
	/* 1024 ticks per second: 1536 ticks are 1.5 s. */
	pds_pcapng_write_epb(out, 2, 1536, NULL, 0, 0, NULL);

	pds_pcapng_options_add_u64(isb, PDS_PCAPNG_ISB_IFRECV, 1000);
	pds_pcapng_options_add_u64(isb, PDS_PCAPNG_ISB_IFDROP, 3);
	pds_pcapng_write_isb(out, 0, G_GUINT64_CONSTANT(1700000001000000000), isb);

	pds_pcapng_nrb_add_ipv4(nrb, v4, "web-7d9c.default");
	pds_pcapng_nrb_add_ipv6(nrb, v6, "api.default.svc");
	g_assert_cmpuint(pds_pcapng_nrb_get_count(nrb), ==, 2);
	pds_pcapng_write_nrb(out, nrb);

	pds_pcapng_write_custom(out, PDS_PEN, custom1, sizeof(custom1), TRUE);
	pds_pcapng_write_custom(out, 12345, custom1, 4, FALSE);
	return out;
}

static void
check_sample_blocks(GPtrArray *blocks)
{
	SavedBlock *s;
	PdsPcapngBlock b;

	g_assert_cmpuint(blocks->len, ==, 11);
	for (guint i = 0; i < blocks->len; i++) {
		s = g_ptr_array_index(blocks, i);
		g_assert_cmpuint(s->b.length % 4, ==, 0);
		g_assert_false(s->b.big_endian);
		g_assert_cmpuint(s->b.section, ==, 0);
	}
	s = g_ptr_array_index(blocks, 0);
	g_assert_cmpuint(s->b.type, ==, PDS_PCAPNG_BT_SHB);
	g_assert_cmpuint(s->b.offset, ==, 0);
	g_assert_cmpuint(s->b.major, ==, 1);
	g_assert_cmpuint(s->b.minor, ==, 0);
	s = g_ptr_array_index(blocks, 1);
	g_assert_cmpuint(s->b.type, ==, PDS_PCAPNG_BT_IDB);
	g_assert_cmpuint(s->b.linktype, ==, PDS_LINKTYPE_ETHERNET);
	g_assert_cmpuint(s->b.snaplen, ==, 262144);
	s = g_ptr_array_index(blocks, 2);
	g_assert_cmpuint(s->b.linktype, ==, PDS_LINKTYPE_RAW);
	g_assert_cmpuint(s->b.options_len, ==, 0);
	s = g_ptr_array_index(blocks, 4);
	g_assert_cmpuint(s->b.type, ==, PDS_PCAPNG_BT_EPB);
	g_assert_cmpuint(s->b.interface_id, ==, 0);
	g_assert_cmpuint(s->b.timestamp, ==, G_GUINT64_CONSTANT(1700000000123456789));
	g_assert_cmpuint(s->b.timestamp_ns, ==, G_GUINT64_CONSTANT(1700000000123456789));
	g_assert_cmpuint(s->b.caplen, ==, sizeof(packet1));
	g_assert_cmpuint(s->b.origlen, ==, 1500);
	s = g_ptr_array_index(blocks, 5);
	g_assert_cmpuint(s->b.interface_id, ==, 1);
	g_assert_cmpuint(s->b.timestamp_ns, ==, G_GUINT64_CONSTANT(1700000000654321000));
	g_assert_cmpuint(s->b.caplen, ==, 4);
	s = g_ptr_array_index(blocks, 6);
	g_assert_cmpuint(s->b.interface_id, ==, 2);
	g_assert_cmpuint(s->b.timestamp_ns, ==, G_GUINT64_CONSTANT(1500000000));
	g_assert_cmpuint(s->b.caplen, ==, 0);
	s = g_ptr_array_index(blocks, 7);
	g_assert_cmpuint(s->b.type, ==, PDS_PCAPNG_BT_ISB);
	g_assert_cmpuint(s->b.timestamp_ns, ==, G_GUINT64_CONSTANT(1700000001000000000));
	s = g_ptr_array_index(blocks, 8);
	g_assert_cmpuint(s->b.type, ==, PDS_PCAPNG_BT_NRB);
	s = g_ptr_array_index(blocks, 9);
	g_assert_cmpuint(s->b.type, ==, PDS_PCAPNG_BT_CUSTOM);
	g_assert_cmpuint(s->b.pen, ==, PDS_PEN);
	/* Padding is part of the custom data: records are self-delimiting. */
	g_assert_cmpuint(s->b.custom_len, ==, 8);
	s = g_ptr_array_index(blocks, 10);
	g_assert_cmpuint(s->b.type, ==, PDS_PCAPNG_BT_CUSTOM_NOCOPY);
	g_assert_cmpuint(s->b.pen, ==, 12345);
	g_assert_cmpuint(s->b.custom_len, ==, 4);
	(void)b;
}

static void
test_roundtrip(void)
{
	g_autoptr(GByteArray) out = write_sample();
	g_autoptr(PdsPcapngReader) reader = pds_pcapng_reader_new();
	g_autoptr(GPtrArray) blocks = NULL;
	g_autoptr(GError) error = NULL;
	PdsPcapngBlock b;
	const PdsPcapngInterface *iface;
	PdsPcapngOptionIter iter;
	guint16 code, len;
	const guint8 *value;
	guint64 u64;
	guint n_opts = 0;
	gchar *str;

	blocks = read_all(out->data, out->len, 0, &error);
	g_assert_no_error(error);
	check_sample_blocks(blocks);

	/* Options and pointers need a live reader. */
	pds_pcapng_reader_feed(reader, out->data, out->len);

	g_assert_true(pds_pcapng_reader_next(reader, &b, &error));
	str = option_string(&b, PDS_PCAPNG_SHB_USERAPPL);
	g_assert_cmpstr(str, ==, "podscope-agent 0.1.0");
	g_free(str);
	str = option_string(&b, PDS_PCAPNG_SHB_HARDWARE);
	g_assert_cmpstr(str, ==, "node-a");
	g_free(str);
	str = pds_pcapng_block_dup_custom_kv(&b, "pod");
	g_assert_cmpstr(str, ==, "web-7d9c");
	g_free(str);
	str = pds_pcapng_block_dup_custom_kv(&b, "namespace");
	g_assert_cmpstr(str, ==, "default");
	g_free(str);
	g_assert_null(pds_pcapng_block_dup_custom_kv(&b, "names"));
	g_assert_null(pds_pcapng_block_dup_custom_kv(&b, "node"));
	g_assert_null(option_string(&b, PDS_PCAPNG_SHB_OS));

	for (guint i = 0; i < 3; i++)
		g_assert_true(pds_pcapng_reader_next(reader, &b, &error));
	g_assert_cmpuint(pds_pcapng_reader_get_n_interfaces(reader), ==, 3);
	iface = pds_pcapng_reader_get_interface(reader, 0);
	g_assert_nonnull(iface);
	g_assert_cmpuint(iface->linktype, ==, PDS_LINKTYPE_ETHERNET);
	g_assert_cmpuint(iface->snaplen, ==, 262144);
	g_assert_cmpuint(iface->ticks_per_second, ==, 1000000000);
	g_assert_cmpstr(iface->name, ==, "default/web-7d9c/eth0");
	g_assert_cmpstr(iface->description, ==, "podscope-agent on node-a");
	iface = pds_pcapng_reader_get_interface(reader, 1);
	g_assert_cmpuint(iface->ticks_per_second, ==, 1000000);
	g_assert_null(iface->name);
	iface = pds_pcapng_reader_get_interface(reader, 2);
	g_assert_cmpuint(iface->ticks_per_second, ==, 1024);
	g_assert_null(pds_pcapng_reader_get_interface(reader, 3));

	g_assert_true(pds_pcapng_reader_next(reader, &b, &error));
	g_assert_cmpuint(b.type, ==, PDS_PCAPNG_BT_EPB);
	g_assert_cmpmem(b.packet, b.caplen, packet1, sizeof(packet1));
	g_assert_true(pds_pcapng_block_get_option_u64(&b, PDS_PCAPNG_EPB_FLAGS, &u64));
	g_assert_cmpuint(u64, ==, 1);
	g_assert_true(pds_pcapng_block_get_option_u64(&b, PDS_PCAPNG_EPB_DROPCOUNT, &u64));
	g_assert_cmpuint(u64, ==, 7);
	g_assert_true(pds_pcapng_block_get_option_u64(&b, PDS_PCAPNG_EPB_PACKETID, &u64));
	g_assert_cmpuint(u64, ==, G_GUINT64_CONSTANT(0x1122334455667788));
	g_assert_false(pds_pcapng_block_get_option_u64(&b, 6, &u64));
	str = option_string(&b, PDS_PCAPNG_OPT_COMMENT);
	g_assert_cmpstr(str, ==, "hello");
	g_free(str);
	pds_pcapng_option_iter_init(&iter, &b);
	while (pds_pcapng_option_iter_next(&iter, &code, &value, &len))
		n_opts++;
	g_assert_cmpuint(n_opts, ==, 4);

	g_assert_true(pds_pcapng_reader_next(reader, &b, &error));
	g_assert_cmpmem(b.packet, b.caplen, packet1, 4);
	g_assert_true(pds_pcapng_reader_next(reader, &b, &error));
	g_assert_true(pds_pcapng_reader_next(reader, &b, &error));
	g_assert_cmpuint(b.type, ==, PDS_PCAPNG_BT_ISB);
	g_assert_true(pds_pcapng_block_get_option_u64(&b, PDS_PCAPNG_ISB_IFRECV, &u64));
	g_assert_cmpuint(u64, ==, 1000);
	g_assert_true(pds_pcapng_block_get_option_u64(&b, PDS_PCAPNG_ISB_IFDROP, &u64));
	g_assert_cmpuint(u64, ==, 3);

	g_assert_true(pds_pcapng_reader_next(reader, &b, &error));
	g_assert_cmpuint(b.type, ==, PDS_PCAPNG_BT_NRB);
	/* ipv4 record: 4 + 4 + "web-7d9c.default\0" padded; ipv6; end. */
	g_assert_cmpuint(b.nrb_records_len, ==, 4 + 24 + 4 + 32 + 4);
	g_assert_cmpuint(pds_pcapng_block_read_u16(&b, b.nrb_records), ==, PDS_PCAPNG_NRB_IPV4);
	g_assert_cmpuint(pds_pcapng_block_read_u16(&b, b.nrb_records + 2), ==, 21);
	g_assert_cmpmem(b.nrb_records + 4, 4, ((const guint8[]){10, 1, 2, 3}), 4);
	g_assert_cmpstr((const char *)b.nrb_records + 8, ==, "web-7d9c.default");
	g_assert_cmpuint(pds_pcapng_block_read_u16(&b, b.nrb_records + 28), ==,
			 PDS_PCAPNG_NRB_IPV6);
	g_assert_cmpstr((const char *)b.nrb_records + 28 + 4 + 16, ==, "api.default.svc");
	g_assert_cmpuint(b.options_len, ==, 0);

	g_assert_true(pds_pcapng_reader_next(reader, &b, &error));
	g_assert_cmpmem(b.custom_data, sizeof(custom1), custom1, sizeof(custom1));
	g_assert_true(pds_pcapng_reader_next(reader, &b, &error));
	g_assert_false(pds_pcapng_reader_next(reader, &b, &error));
	g_assert_no_error(error);
	g_assert_true(pds_pcapng_reader_finish(reader, &error));
	g_assert_no_error(error);
}

/* ---- Big-endian sections, SPB, multiple sections ---- */

/* A big-endian section with every block type, then a little-endian one. */
static GByteArray *
make_mixed_stream(void)
{
	Emit e = {g_byte_array_new(), TRUE};
	guint s;
	guint8 pkt[64];
	const guint8 v4[4] = {192, 0, 2, 7};
	const char *kv = "pod=be-pod";
	guint8 custom_val[64];

	for (guint i = 0; i < sizeof(pkt); i++)
		pkt[i] = (guint8)i;

	e_shb(&e, "big-endian writer");
	e_idb(&e, PDS_LINKTYPE_ETHERNET, 32, 3, "be0");	 /* milliseconds, snaplen 32 */
	e_idb(&e, PDS_LINKTYPE_RAW, 0, 0x80 | 20, NULL); /* 2^-20 s */

	/* EPB with options in BE. */
	s = e_begin(&e, PDS_PCAPNG_BT_EPB);
	e_u32(&e, 1);
	e_u32(&e, 0);
	e_u32(&e, 3u << 20); /* 3 s */
	e_u32(&e, 10);
	e_u32(&e, 60);
	e_bytes(&e, pkt, 10);
	e_opt_u32(&e, PDS_PCAPNG_EPB_FLAGS, 0x00020001);
	e_opt_u64(&e, PDS_PCAPNG_EPB_DROPCOUNT, G_GUINT64_CONSTANT(0x0102030405060708));
	e_opt(&e, PDS_PCAPNG_OPT_COMMENT, "be comment", 10);
	memcpy(custom_val, &(guint32){GUINT32_TO_BE(PDS_PEN)}, 4);
	memcpy(custom_val + 4, kv, strlen(kv));
	e_opt(&e, PDS_PCAPNG_OPT_CUSTOM_STR, custom_val, (guint16)(4 + strlen(kv)));
	e_opt_end(&e);
	e_end(&e, s);

	/* SPB: origlen 60 but snaplen 32 and 40 bytes of space: caplen 32. */
	s = e_begin(&e, PDS_PCAPNG_BT_SPB);
	e_u32(&e, 60);
	e_bytes(&e, pkt, 40);
	e_end(&e, s);
	/* SPB: origlen 3 is less than the space (4 after padding). */
	s = e_begin(&e, PDS_PCAPNG_BT_SPB);
	e_u32(&e, 3);
	e_bytes(&e, pkt, 3);
	e_end(&e, s);

	/* ISB with start time (two u32) and counters. */
	s = e_begin(&e, PDS_PCAPNG_BT_ISB);
	e_u32(&e, 0);
	e_u32(&e, 0);
	e_u32(&e, 5000); /* 5 s in ms */
	e_u16(&e, PDS_PCAPNG_ISB_STARTTIME);
	e_u16(&e, 8);
	e_u32(&e, 0);
	e_u32(&e, 1000);
	e_opt_u64(&e, PDS_PCAPNG_ISB_IFRECV, 99);
	e_opt_end(&e);
	e_end(&e, s);

	/* NRB */
	s = e_begin(&e, PDS_PCAPNG_BT_NRB);
	e_u16(&e, PDS_PCAPNG_NRB_IPV4);
	e_u16(&e, 4 + 8);
	g_byte_array_append(e.a, v4, 4);
	e_bytes(&e, "be.host", 8);
	e_u32(&e, 0);
	e_end(&e, s);

	/* Custom block, and a block type nobody knows. */
	s = e_begin(&e, PDS_PCAPNG_BT_CUSTOM);
	e_u32(&e, PDS_PEN);
	e_bytes(&e, "BEDATA", 6);
	e_end(&e, s);
	s = e_begin(&e, 0x00000099);
	e_u32(&e, 0xabcdef01);
	e_end(&e, s);

	/* Second section, little-endian, one interface in microseconds. */
	e.be = FALSE;
	e_shb(&e, NULL);
	e_idb(&e, PDS_LINKTYPE_ETHERNET, 0, -1, NULL);
	e_epb(&e, 0, G_GUINT64_CONSTANT(1700000000000001), pkt, 14, 14);

	/* Third section, big-endian again. */
	e.be = TRUE;
	e_shb(&e, "third");
	e_idb(&e, PDS_LINKTYPE_ETHERNET, 0, 9, NULL);
	e_epb(&e, 0, G_GUINT64_CONSTANT(1700000000000000007), pkt, 1, 1);
	return e.a;
}

static void
test_big_endian(void)
{
	g_autoptr(GByteArray) data = make_mixed_stream();
	g_autoptr(PdsPcapngReader) reader = pds_pcapng_reader_new();
	g_autoptr(GError) error = NULL;
	PdsPcapngBlock b;
	PdsPcapngOptionIter iter;
	const PdsPcapngInterface *iface;
	guint16 code, len;
	const guint8 *value;
	guint64 u64;
	gchar *str;
	guint8 pkt[64];

	for (guint i = 0; i < sizeof(pkt); i++)
		pkt[i] = (guint8)i;

	pds_pcapng_reader_feed(reader, data->data, data->len);

	g_assert_true(pds_pcapng_reader_next(reader, &b, &error));
	g_assert_cmpuint(b.type, ==, PDS_PCAPNG_BT_SHB);
	g_assert_true(b.big_endian);
	g_assert_cmpuint(b.major, ==, 1);
	g_assert_cmpuint(b.section, ==, 0);
	str = option_string(&b, PDS_PCAPNG_SHB_USERAPPL);
	g_assert_cmpstr(str, ==, "big-endian writer");
	g_free(str);

	g_assert_true(pds_pcapng_reader_next(reader, &b, &error));
	g_assert_cmpuint(b.type, ==, PDS_PCAPNG_BT_IDB);
	g_assert_cmpuint(b.linktype, ==, PDS_LINKTYPE_ETHERNET);
	g_assert_cmpuint(b.snaplen, ==, 32);
	g_assert_true(pds_pcapng_reader_next(reader, &b, &error));
	iface = pds_pcapng_reader_get_interface(reader, 0);
	g_assert_cmpuint(iface->ticks_per_second, ==, 1000);
	g_assert_cmpstr(iface->name, ==, "be0");
	iface = pds_pcapng_reader_get_interface(reader, 1);
	g_assert_cmpuint(iface->ticks_per_second, ==, 1u << 20);

	g_assert_true(pds_pcapng_reader_next(reader, &b, &error));
	g_assert_cmpuint(b.type, ==, PDS_PCAPNG_BT_EPB);
	g_assert_cmpuint(b.interface_id, ==, 1);
	g_assert_cmpuint(b.timestamp, ==, 3u << 20);
	g_assert_cmpuint(b.timestamp_ns, ==, G_GUINT64_CONSTANT(3000000000));
	g_assert_cmpuint(b.caplen, ==, 10);
	g_assert_cmpuint(b.origlen, ==, 60);
	g_assert_cmpmem(b.packet, b.caplen, pkt, 10);
	g_assert_true(pds_pcapng_block_get_option_u64(&b, PDS_PCAPNG_EPB_FLAGS, &u64));
	g_assert_cmpuint(u64, ==, 0x00020001);
	g_assert_true(pds_pcapng_block_get_option_u64(&b, PDS_PCAPNG_EPB_DROPCOUNT, &u64));
	g_assert_cmpuint(u64, ==, G_GUINT64_CONSTANT(0x0102030405060708));
	str = pds_pcapng_block_dup_custom_kv(&b, "pod");
	g_assert_cmpstr(str, ==, "be-pod");
	g_free(str);
	pds_pcapng_option_iter_init(&iter, &b);
	g_assert_true(iter.big_endian);
	g_assert_true(pds_pcapng_option_iter_next(&iter, &code, &value, &len));
	g_assert_cmpuint(code, ==, PDS_PCAPNG_EPB_FLAGS);
	g_assert_cmpuint(len, ==, 4);
	g_assert_cmpuint(pds_pcapng_block_read_u32(&b, value), ==, 0x00020001);
	g_assert_true(pds_pcapng_option_iter_next(&iter, &code, &value, &len));
	g_assert_cmpuint(pds_pcapng_block_read_u64(&b, value), ==,
			 G_GUINT64_CONSTANT(0x0102030405060708));
	g_assert_true(pds_pcapng_option_iter_next(&iter, &code, &value, &len));
	g_assert_cmpuint(code, ==, PDS_PCAPNG_OPT_COMMENT);
	g_assert_cmpmem(value, len, "be comment", 10);
	g_assert_true(pds_pcapng_option_iter_next(&iter, &code, &value, &len));
	g_assert_cmpuint(code, ==, PDS_PCAPNG_OPT_CUSTOM_STR);
	g_assert_false(pds_pcapng_option_iter_next(&iter, &code, &value, &len));

	g_assert_true(pds_pcapng_reader_next(reader, &b, &error));
	g_assert_cmpuint(b.type, ==, PDS_PCAPNG_BT_SPB);
	g_assert_cmpuint(b.interface_id, ==, 0);
	g_assert_cmpuint(b.origlen, ==, 60);
	g_assert_cmpuint(b.caplen, ==, 32); /* snaplen */
	g_assert_cmpmem(b.packet, b.caplen, pkt, 32);
	g_assert_true(pds_pcapng_reader_next(reader, &b, &error));
	g_assert_cmpuint(b.type, ==, PDS_PCAPNG_BT_SPB);
	g_assert_cmpuint(b.caplen, ==, 3); /* origlen */

	g_assert_true(pds_pcapng_reader_next(reader, &b, &error));
	g_assert_cmpuint(b.type, ==, PDS_PCAPNG_BT_ISB);
	g_assert_cmpuint(b.timestamp_ns, ==, G_GUINT64_CONSTANT(5000000000));
	g_assert_true(pds_pcapng_block_get_option_u64(&b, PDS_PCAPNG_ISB_IFRECV, &u64));
	g_assert_cmpuint(u64, ==, 99);

	g_assert_true(pds_pcapng_reader_next(reader, &b, &error));
	g_assert_cmpuint(b.type, ==, PDS_PCAPNG_BT_NRB);
	g_assert_cmpuint(b.nrb_records_len, ==, 4 + 12 + 4);
	g_assert_cmpuint(pds_pcapng_block_read_u16(&b, b.nrb_records + 2), ==, 12);
	g_assert_cmpstr((const char *)b.nrb_records + 8, ==, "be.host");

	g_assert_true(pds_pcapng_reader_next(reader, &b, &error));
	g_assert_cmpuint(b.type, ==, PDS_PCAPNG_BT_CUSTOM);
	g_assert_cmpuint(b.pen, ==, PDS_PEN);
	g_assert_cmpmem(b.custom_data, 6, "BEDATA", 6);

	/* Unknown type: returned with its type and body so it can be skipped. */
	g_assert_true(pds_pcapng_reader_next(reader, &b, &error));
	g_assert_cmpuint(b.type, ==, 0x00000099);
	g_assert_cmpuint(b.length, ==, 16);
	g_assert_cmpuint(b.body_len, ==, 4);
	g_assert_cmpuint(pds_pcapng_block_read_u32(&b, b.body), ==, 0xabcdef01);

	/* Section 2, little-endian: interfaces start over. */
	g_assert_true(pds_pcapng_reader_next(reader, &b, &error));
	g_assert_cmpuint(b.type, ==, PDS_PCAPNG_BT_SHB);
	g_assert_false(b.big_endian);
	g_assert_cmpuint(b.section, ==, 1);
	g_assert_cmpuint(pds_pcapng_reader_get_n_interfaces(reader), ==, 0);
	g_assert_true(pds_pcapng_reader_next(reader, &b, &error));
	g_assert_true(pds_pcapng_reader_next(reader, &b, &error));
	g_assert_cmpuint(b.type, ==, PDS_PCAPNG_BT_EPB);
	g_assert_false(b.big_endian);
	g_assert_cmpuint(b.section, ==, 1);
	g_assert_cmpuint(b.timestamp_ns, ==, G_GUINT64_CONSTANT(1700000000000001000));

	/* Section 3, big-endian again. */
	g_assert_true(pds_pcapng_reader_next(reader, &b, &error));
	g_assert_true(b.big_endian);
	g_assert_cmpuint(b.section, ==, 2);
	g_assert_true(pds_pcapng_reader_next(reader, &b, &error));
	g_assert_true(pds_pcapng_reader_next(reader, &b, &error));
	g_assert_cmpuint(b.timestamp_ns, ==, G_GUINT64_CONSTANT(1700000000000000007));
	g_assert_true(b.big_endian);

	g_assert_false(pds_pcapng_reader_next(reader, &b, &error));
	g_assert_no_error(error);
	g_assert_true(pds_pcapng_reader_finish(reader, &error));
	g_assert_cmpuint(pds_pcapng_reader_get_offset(reader), ==, data->len);
}

/*
 * Borrowed input in pieces that end mid-block (a hub reading 64 KiB packets
 * 256 KiB at a time): only the bytes of the blocks that straddle two pieces
 * are copied, at most two blocks' worth per piece, not the whole stream.
 */
static void
test_borrowed_copies_little(void)
{
	g_autoptr(GByteArray) stream = g_byte_array_new();
	g_autoptr(GPtrArray) whole = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree guint8 *packet = g_malloc(65000);
	const gsize steps[] = {4096, 65536, 262144, 100003};
	gsize max_block = 0;

	for (gsize i = 0; i < 65000; i++)
		packet[i] = (guint8)(i * 7);
	pds_pcapng_write_shb(stream, NULL);
	pds_pcapng_write_idb(stream, PDS_LINKTYPE_ETHERNET, 262144, NULL);
	for (guint i = 0; i < 200; i++) {
		/* small and large packets mixed, as on a pod's veth with GSO */
		guint32 caplen = i % 3 == 0 ? 65000 : 700 + i;
		gsize before = stream->len;

		pds_pcapng_write_epb(stream, 0, 1700000000000000000ull + i, packet, caplen, caplen,
				     NULL);
		max_block = MAX(max_block, stream->len - before);
	}
	whole = read_all(stream->data, stream->len, 0, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(whole->len, ==, 202);

	for (guint i = 0; i < G_N_ELEMENTS(steps); i++) {
		guint64 copied = 0;
		gsize pieces = (stream->len + steps[i] - 1) / steps[i];
		g_autoptr(GPtrArray) borrowed = read_all_borrowed_counted(
			stream->data, stream->len, steps[i], &copied, &error);

		g_assert_no_error(error);
		assert_same_blocks(whole, borrowed);
		g_test_message("pieces of %" G_GSIZE_FORMAT " bytes: %" G_GUINT64_FORMAT
			       " of %u bytes copied",
			       steps[i], copied, stream->len);
		g_assert_cmpuint(copied, <=, pieces * 2 * max_block);
		/* pieces of four large blocks or more: most blocks lie wholly inside one */
		if (steps[i] >= 4 * max_block)
			g_assert_cmpuint(copied, <, stream->len / 2);
	}
}

static void
test_byte_at_a_time(void)
{
	g_autoptr(GByteArray) mixed = make_mixed_stream();
	g_autoptr(GByteArray) sample = write_sample();
	GByteArray *inputs[] = {mixed, sample};

	for (guint n = 0; n < G_N_ELEMENTS(inputs); n++) {
		GByteArray *in = inputs[n];
		g_autoptr(GPtrArray) whole = NULL;
		g_autoptr(GError) error = NULL;
		const gsize steps[] = {1, 2, 3, 5, 7, 13, 64, 1000};

		whole = read_all(in->data, in->len, 0, &error);
		g_assert_no_error(error);
		g_assert_cmpuint(whole->len, >, 5);
		for (guint i = 0; i < G_N_ELEMENTS(steps); i++) {
			g_autoptr(GPtrArray) split = read_all(in->data, in->len, steps[i], &error);
			g_autoptr(GPtrArray) borrowed = NULL;

			g_assert_no_error(error);
			assert_same_blocks(whole, split);
			borrowed = read_all_borrowed(in->data, in->len, steps[i], &error);
			g_assert_no_error(error);
			assert_same_blocks(whole, borrowed);
		}
	}
	/* And the one-byte split still says what the whole read said. */
	{
		g_autoptr(GError) error = NULL;
		g_autoptr(GPtrArray) bytewise = read_all(sample->data, sample->len, 1, &error);

		g_assert_no_error(error);
		check_sample_blocks(bytewise);
	}
}

/* ---- Malformed input ---- */

/* SHB (28 bytes) + IDB (20 bytes): the next block starts at offset 48. */
static Emit
base_le(void)
{
	Emit e = {g_byte_array_new(), FALSE};

	e_shb(&e, NULL);
	e_idb(&e, PDS_LINKTYPE_ETHERNET, 0, -1, NULL);
	g_assert_cmpuint(e.a->len, ==, 48);
	return e;
}

static GByteArray *
bad_length_not_multiple(void)
{
	Emit e = base_le();

	e_u32(&e, PDS_PCAPNG_BT_EPB);
	e_u32(&e, 7);
	e_u32(&e, 0);
	return e.a;
}

static GByteArray *
bad_trailer(void)
{
	Emit e = base_le();

	e_epb(&e, 0, 1, "abcd", 4, 4);
	e.a->data[e.a->len - 4] ^= 0x40;
	return e.a;
}

static GByteArray *
bad_caplen(void)
{
	Emit e = base_le();
	guint s = e_begin(&e, PDS_PCAPNG_BT_EPB);

	e_u32(&e, 0);
	e_u32(&e, 0);
	e_u32(&e, 1);
	e_u32(&e, 100);
	e_u32(&e, 100);
	e_bytes(&e, "abcd", 4);
	e_end(&e, s);
	return e.a;
}

static GByteArray *
bad_no_section(void)
{
	Emit e = {g_byte_array_new(), FALSE};

	e_idb(&e, PDS_LINKTYPE_ETHERNET, 0, -1, NULL);
	return e.a;
}

static GByteArray *
bad_too_large(void)
{
	Emit e = base_le();

	e_u32(&e, PDS_PCAPNG_BT_EPB);
	e_u32(&e, PDS_PCAPNG_MAX_BLOCK + 4);
	e_u32(&e, 0);
	return e.a;
}

static GByteArray *
bad_interface(void)
{
	Emit e = base_le();

	e_epb(&e, 5, 1, "abcd", 4, 4);
	return e.a;
}

static GByteArray *
bad_isb_interface(void)
{
	Emit e = base_le();
	guint s = e_begin(&e, PDS_PCAPNG_BT_ISB);

	e_u32(&e, 1);
	e_u64(&e, 0);
	e_end(&e, s);
	return e.a;
}

static GByteArray *
bad_interface_of_old_section(void)
{
	Emit e = base_le();

	/* A new section forgets interface 0 of the first one. */
	e_shb(&e, NULL);
	e_epb(&e, 0, 1, "abcd", 4, 4);
	return e.a;
}

static GByteArray *
bad_magic(void)
{
	Emit e = {g_byte_array_new(), FALSE};

	e_shb(&e, NULL);
	e.a->data[8] = 0x99;
	return e.a;
}

static GByteArray *
bad_major(void)
{
	Emit e = base_le();
	guint s = e_begin(&e, PDS_PCAPNG_BT_SHB);

	e_u32(&e, PDS_PCAPNG_BYTE_ORDER_MAGIC);
	e_u16(&e, 2);
	e_u16(&e, 0);
	e_u64(&e, G_MAXUINT64);
	e_end(&e, s);
	return e.a;
}

static GByteArray *
bad_option(void)
{
	Emit e = base_le();
	guint s = e_begin(&e, PDS_PCAPNG_BT_IDB);

	e_u16(&e, 1);
	e_u16(&e, 0);
	e_u32(&e, 0);
	e_u16(&e, PDS_PCAPNG_IF_NAME);
	e_u16(&e, 200);
	e_bytes(&e, "eth0", 4);
	e_end(&e, s);
	return e.a;
}

static GByteArray *
bad_spb_no_interface(void)
{
	Emit e = {g_byte_array_new(), FALSE};
	guint s;

	e_shb(&e, NULL);
	s = e_begin(&e, PDS_PCAPNG_BT_SPB);
	e_u32(&e, 4);
	e_bytes(&e, "abcd", 4);
	e_end(&e, s);
	return e.a;
}

static GByteArray *
bad_short_epb(void)
{
	Emit e = base_le();
	guint s = e_begin(&e, PDS_PCAPNG_BT_EPB);

	e_u32(&e, 0);
	e_end(&e, s);
	return e.a;
}

static GByteArray *
bad_short_shb(void)
{
	Emit e = {g_byte_array_new(), FALSE};
	guint s = e_begin(&e, PDS_PCAPNG_BT_SHB);

	e_u32(&e, PDS_PCAPNG_BYTE_ORDER_MAGIC);
	e_u32(&e, 1);
	e_end(&e, s);
	return e.a;
}

static GByteArray *
bad_nrb_record(void)
{
	Emit e = base_le();
	guint s = e_begin(&e, PDS_PCAPNG_BT_NRB);

	e_u16(&e, PDS_PCAPNG_NRB_IPV4);
	e_u16(&e, 64);
	e_bytes(&e, "\x0a\x00\x00\x01host", 8);
	e_end(&e, s);
	return e.a;
}

static GByteArray *
bad_tsresol(void)
{
	Emit e = {g_byte_array_new(), TRUE};

	e_shb(&e, NULL);
	e_idb(&e, PDS_LINKTYPE_ETHERNET, 0, 20, NULL); /* 10^-20 s */
	return e.a;
}

static GByteArray *
bad_be_length(void)
{
	Emit e = {g_byte_array_new(), TRUE};

	e_shb(&e, NULL);
	e_idb(&e, PDS_LINKTYPE_ETHERNET, 0, -1, NULL);
	/* Little-endian 20 is big-endian 0x14000000: far beyond the limit. */
	e.be = FALSE;
	e_epb(&e, 0, 0, "abcd", 4, 4);
	return e.a;
}

static GByteArray *
bad_custom_short(void)
{
	Emit e = base_le();
	guint s = e_begin(&e, PDS_PCAPNG_BT_CUSTOM);

	e_end(&e, s);
	return e.a;
}

typedef struct {
	const char *name;
	GByteArray *(*make)(void);
	gint code;
	guint64 offset;
	const char *what;
} MalformedCase;

static const MalformedCase malformed_cases[] = {
	{"length-not-multiple-of-4", bad_length_not_multiple, PDS_PCAPNG_ERROR_MALFORMED, 48,
	 "total length 7 is not a multiple of 4"},
	{"trailing-length", bad_trailer, PDS_PCAPNG_ERROR_MALFORMED, 48, "trailing length"},
	{"caplen-beyond-block", bad_caplen, PDS_PCAPNG_ERROR_MALFORMED, 48, "captured length 100"},
	{"no-section", bad_no_section, PDS_PCAPNG_ERROR_NO_SECTION, 0, "before any section"},
	{"too-large", bad_too_large, PDS_PCAPNG_ERROR_MALFORMED, 48, "larger than the limit"},
	{"unknown-interface", bad_interface, PDS_PCAPNG_ERROR_MALFORMED, 48, "interface 5"},
	{"isb-unknown-interface", bad_isb_interface, PDS_PCAPNG_ERROR_MALFORMED, 48, "interface 1"},
	{"interface-of-old-section", bad_interface_of_old_section, PDS_PCAPNG_ERROR_MALFORMED, 76,
	 "interface 0"},
	{"byte-order-magic", bad_magic, PDS_PCAPNG_ERROR_MALFORMED, 0, "byte-order magic"},
	{"major-version", bad_major, PDS_PCAPNG_ERROR_UNSUPPORTED, 48, "version 2.0"},
	{"option-overrun", bad_option, PDS_PCAPNG_ERROR_MALFORMED, 48, "option"},
	{"spb-without-interface", bad_spb_no_interface, PDS_PCAPNG_ERROR_MALFORMED, 28,
	 "without interfaces"},
	{"short-epb", bad_short_epb, PDS_PCAPNG_ERROR_MALFORMED, 48, "too short"},
	{"short-shb", bad_short_shb, PDS_PCAPNG_ERROR_MALFORMED, 0, "too small"},
	{"nrb-record-overrun", bad_nrb_record, PDS_PCAPNG_ERROR_MALFORMED, 48,
	 "name resolution record"},
	{"tsresol-range", bad_tsresol, PDS_PCAPNG_ERROR_UNSUPPORTED, 28, "if_tsresol"},
	{"wrong-byte-order-length", bad_be_length, PDS_PCAPNG_ERROR_MALFORMED, 48, "total length"},
	{"custom-without-pen", bad_custom_short, PDS_PCAPNG_ERROR_MALFORMED, 48, "PEN"},
};

static void
test_malformed(gconstpointer data)
{
	const MalformedCase *c = data;
	g_autoptr(GByteArray) in = c->make();
	g_autofree gchar *where =
		g_strdup_printf("block at offset %" G_GUINT64_FORMAT ": ", c->offset);
	const gsize steps[] = {0, 1, 3};

	for (guint i = 0; i < G_N_ELEMENTS(steps); i++) {
		g_autoptr(PdsPcapngReader) reader = pds_pcapng_reader_new();
		g_autoptr(GError) error = NULL;
		g_autoptr(GError) again = NULL;
		PdsPcapngBlock b;
		gsize step = steps[i] == 0 ? in->len : steps[i];
		gsize pos = 0;

		while (error == NULL && pos < in->len) {
			gsize n = MIN(step, in->len - pos);

			pds_pcapng_reader_feed(reader, in->data + pos, n);
			pos += n;
			while (pds_pcapng_reader_next(reader, &b, &error))
				g_assert_cmpuint(b.offset, <, c->offset);
		}
		g_assert_error(error, PDS_PCAPNG_ERROR, c->code);
		g_test_message("%s: %s", c->name, error->message);
		g_assert_true(g_str_has_prefix(error->message, where));
		g_assert_nonnull(strstr(error->message, c->what));

		/* The reader stays failed: a stream cannot be resynchronised. */
		pds_pcapng_reader_feed(reader, in->data, 8);
		g_assert_false(pds_pcapng_reader_next(reader, &b, &again));
		g_assert_error(again, PDS_PCAPNG_ERROR, c->code);
		g_clear_error(&again);
		g_assert_false(pds_pcapng_reader_finish(reader, &again));
		g_assert_error(again, PDS_PCAPNG_ERROR, c->code);
	}
}

/* ---- Truncated input ---- */

static void
test_truncated(void)
{
	g_autoptr(GByteArray) in = write_sample();
	g_autoptr(GPtrArray) blocks = NULL;
	g_autoptr(GError) error = NULL;
	guint n_checked = 0;

	blocks = read_all(in->data, in->len, 0, &error);
	g_assert_no_error(error);

	for (gsize cut = 1; cut < in->len; cut++) {
		g_autoptr(PdsPcapngReader) reader = pds_pcapng_reader_new();
		g_autofree gchar *where = NULL;
		g_autofree gchar *missing = NULL;
		PdsPcapngBlock b;
		const SavedBlock *at = NULL;
		guint n = 0;
		gsize in_block, header;

		for (guint i = 0; i < blocks->len; i++) {
			const SavedBlock *s = g_ptr_array_index(blocks, i);
			if (s->b.offset <= cut && cut < s->b.offset + s->b.length)
				at = s;
		}
		g_assert_nonnull(at);
		if (at->b.offset == cut)
			continue; /* a clean cut between blocks */

		pds_pcapng_reader_feed(reader, in->data, cut);
		while (pds_pcapng_reader_next(reader, &b, &error))
			n++;
		g_assert_no_error(error);
		g_assert_cmpuint(pds_pcapng_reader_get_offset(reader), ==, at->b.offset);
		g_assert_false(pds_pcapng_reader_finish(reader, &error));
		g_assert_error(error, PDS_PCAPNG_ERROR, PDS_PCAPNG_ERROR_TRUNCATED);

		in_block = cut - at->b.offset;
		header = at->b.type == PDS_PCAPNG_BT_SHB ? 12 : 8;
		where = g_strdup_printf("block at offset %" G_GUINT64_FORMAT ": ", at->b.offset);
		if (in_block < 8)
			missing = g_strdup_printf("(%" G_GSIZE_FORMAT " bytes missing)",
						  8 - in_block);
		else if (in_block < header)
			missing = g_strdup_printf("(%" G_GSIZE_FORMAT " bytes missing)",
						  header - in_block);
		else
			missing = g_strdup_printf("(%" G_GSIZE_FORMAT " bytes missing)",
						  at->b.length - in_block);
		if (!g_str_has_prefix(error->message, where) ||
		    strstr(error->message, missing) == NULL)
			g_error("cut at %" G_GSIZE_FORMAT ": unexpected message \"%s\"", cut,
				error->message);
		g_clear_error(&error);
		n_checked++;
	}
	g_assert_cmpuint(n_checked, ==, in->len - blocks->len);

	/* The whole stream finishes cleanly; so does an empty one. */
	{
		g_autoptr(PdsPcapngReader) reader = pds_pcapng_reader_new();
		g_assert_true(pds_pcapng_reader_finish(reader, &error));
		g_assert_no_error(error);
	}
}

/* ---- Unknown block types in a stream ---- */

static void
test_unknown_skipped(void)
{
	Emit e = base_le();
	g_autoptr(GByteArray) in = e.a;
	g_autoptr(PdsPcapngReader) reader = pds_pcapng_reader_new();
	g_autoptr(GError) error = NULL;
	PdsPcapngBlock b;
	guint s, n_epb = 0, n_unknown = 0;

	e_epb(&e, 0, 1, "abcd", 4, 4);
	s = e_begin(&e, 0x00000BB0);
	e_bytes(&e, "some future block", 17);
	e_end(&e, s);
	s = e_begin(&e, 0x80000001); /* local use */
	e_end(&e, s);
	e_epb(&e, 0, 2, "efgh", 4, 4);

	pds_pcapng_reader_feed(reader, in->data, in->len);
	while (pds_pcapng_reader_next(reader, &b, &error)) {
		if (b.type == PDS_PCAPNG_BT_EPB) {
			n_epb++;
			g_assert_cmpmem(b.packet, 4, n_epb == 1 ? "abcd" : "efgh", 4);
		} else if (b.type == 0x00000BB0 || b.type == 0x80000001) {
			n_unknown++;
			g_assert_cmpuint(b.body_len, ==, b.type == 0x80000001 ? 0 : 20);
		}
	}
	g_assert_no_error(error);
	g_assert_cmpuint(n_epb, ==, 2);
	g_assert_cmpuint(n_unknown, ==, 2);
	g_assert_true(pds_pcapng_reader_finish(reader, &error));
}

/* ---- Re-encoding ---- */

static void
test_rewrite_big_endian(void)
{
	g_autoptr(GByteArray) in = make_mixed_stream();
	g_autoptr(GByteArray) out = g_byte_array_new();
	g_autoptr(PdsPcapngReader) reader = pds_pcapng_reader_new();
	g_autoptr(PdsPcapngReader) check = pds_pcapng_reader_new();
	g_autoptr(GError) error = NULL;
	PdsPcapngBlock b;
	guint64 u64;
	gchar *str;
	guint n = 0;
	guint8 pkt[64];

	for (guint i = 0; i < sizeof(pkt); i++)
		pkt[i] = (guint8)i;

	/* Section 0 only: swap interface ids 0 and 1 on the way. */
	pds_pcapng_reader_feed(reader, in->data, in->len);
	while (pds_pcapng_reader_next(reader, &b, &error) && b.section == 0) {
		gboolean ok = pds_pcapng_block_rewrite(&b, 1 - b.interface_id, out, &error);

		if (b.type == 0x00000099) {
			g_assert_false(ok);
			g_assert_error(error, PDS_PCAPNG_ERROR, PDS_PCAPNG_ERROR_UNSUPPORTED);
			g_assert_nonnull(strstr(error->message, "block at offset"));
			g_clear_error(&error);
			continue;
		}
		g_assert_no_error(error);
		g_assert_true(ok);
		n++;
	}
	g_assert_no_error(error);
	g_assert_cmpuint(n, ==, 9);

	pds_pcapng_reader_feed(check, out->data, out->len);
	g_assert_true(pds_pcapng_reader_next(check, &b, &error));
	g_assert_cmpuint(b.type, ==, PDS_PCAPNG_BT_SHB);
	g_assert_false(b.big_endian);
	str = option_string(&b, PDS_PCAPNG_SHB_USERAPPL);
	g_assert_cmpstr(str, ==, "big-endian writer");
	g_free(str);
	g_assert_true(pds_pcapng_reader_next(check, &b, &error));
	g_assert_cmpuint(b.snaplen, ==, 32);
	g_assert_true(pds_pcapng_reader_next(check, &b, &error));
	g_assert_cmpuint(pds_pcapng_reader_get_interface(check, 0)->ticks_per_second, ==, 1000);
	g_assert_cmpstr(pds_pcapng_reader_get_interface(check, 0)->name, ==, "be0");
	g_assert_cmpuint(pds_pcapng_reader_get_interface(check, 1)->ticks_per_second, ==, 1u << 20);

	g_assert_true(pds_pcapng_reader_next(check, &b, &error));
	g_assert_cmpuint(b.type, ==, PDS_PCAPNG_BT_EPB);
	g_assert_false(b.big_endian);
	g_assert_cmpuint(b.interface_id, ==, 0);
	g_assert_cmpuint(b.timestamp, ==, 3u << 20);
	g_assert_cmpuint(b.caplen, ==, 10);
	g_assert_cmpuint(b.origlen, ==, 60);
	g_assert_cmpmem(b.packet, b.caplen, pkt, 10);
	g_assert_true(pds_pcapng_block_get_option_u64(&b, PDS_PCAPNG_EPB_FLAGS, &u64));
	g_assert_cmpuint(u64, ==, 0x00020001);
	g_assert_true(pds_pcapng_block_get_option_u64(&b, PDS_PCAPNG_EPB_DROPCOUNT, &u64));
	g_assert_cmpuint(u64, ==, G_GUINT64_CONSTANT(0x0102030405060708));
	str = option_string(&b, PDS_PCAPNG_OPT_COMMENT);
	g_assert_cmpstr(str, ==, "be comment");
	g_free(str);
	str = pds_pcapng_block_dup_custom_kv(&b, "pod");
	g_assert_cmpstr(str, ==, "be-pod");
	g_free(str);

	/* SPBs became EPBs on the new interface id. */
	g_assert_true(pds_pcapng_reader_next(check, &b, &error));
	g_assert_cmpuint(b.type, ==, PDS_PCAPNG_BT_EPB);
	g_assert_cmpuint(b.interface_id, ==, 1);
	g_assert_cmpuint(b.caplen, ==, 32);
	g_assert_cmpuint(b.origlen, ==, 60);
	g_assert_cmpmem(b.packet, b.caplen, pkt, 32);
	g_assert_true(pds_pcapng_reader_next(check, &b, &error));
	g_assert_cmpuint(b.type, ==, PDS_PCAPNG_BT_EPB);
	g_assert_cmpuint(b.caplen, ==, 3);

	g_assert_true(pds_pcapng_reader_next(check, &b, &error));
	g_assert_cmpuint(b.type, ==, PDS_PCAPNG_BT_ISB);
	g_assert_cmpuint(b.interface_id, ==, 1);
	g_assert_cmpuint(b.timestamp, ==, 5000);
	g_assert_true(pds_pcapng_block_get_option_u64(&b, PDS_PCAPNG_ISB_IFRECV, &u64));
	g_assert_cmpuint(u64, ==, 99);
	{
		PdsPcapngOptionIter iter;
		guint16 code, len;
		const guint8 *value;

		/* isb_starttime is two 32-bit halves, each turned around on its own. */
		pds_pcapng_option_iter_init(&iter, &b);
		g_assert_true(pds_pcapng_option_iter_next(&iter, &code, &value, &len));
		g_assert_cmpuint(code, ==, PDS_PCAPNG_ISB_STARTTIME);
		g_assert_cmpuint(pds_pcapng_block_read_u32(&b, value), ==, 0);
		g_assert_cmpuint(pds_pcapng_block_read_u32(&b, value + 4), ==, 1000);
	}

	g_assert_true(pds_pcapng_reader_next(check, &b, &error));
	g_assert_cmpuint(b.type, ==, PDS_PCAPNG_BT_NRB);
	g_assert_cmpuint(pds_pcapng_block_read_u16(&b, b.nrb_records), ==, PDS_PCAPNG_NRB_IPV4);
	g_assert_cmpuint(pds_pcapng_block_read_u16(&b, b.nrb_records + 2), ==, 12);
	g_assert_cmpmem(b.nrb_records + 4, 4, ((const guint8[]){192, 0, 2, 7}), 4);
	g_assert_cmpstr((const char *)b.nrb_records + 8, ==, "be.host");

	g_assert_true(pds_pcapng_reader_next(check, &b, &error));
	g_assert_cmpuint(b.type, ==, PDS_PCAPNG_BT_CUSTOM);
	g_assert_cmpuint(b.pen, ==, PDS_PEN);
	g_assert_cmpmem(b.custom_data, 6, "BEDATA", 6);

	g_assert_false(pds_pcapng_reader_next(check, &b, &error));
	g_assert_no_error(error);
	g_assert_true(pds_pcapng_reader_finish(check, &error));
}

static void
test_rewrite_little_endian(void)
{
	g_autoptr(GByteArray) in = write_sample();
	g_autoptr(GByteArray) out = g_byte_array_new();
	g_autoptr(PdsPcapngReader) reader = pds_pcapng_reader_new();
	g_autoptr(GError) error = NULL;
	PdsPcapngBlock b;

	pds_pcapng_reader_feed(reader, in->data, in->len);
	while (pds_pcapng_reader_next(reader, &b, &error)) {
		guint start = out->len;

		g_assert_true(pds_pcapng_block_rewrite(&b, 42, out, &error));
		g_assert_cmpuint(out->len - start, ==, b.length);
		if (b.type == PDS_PCAPNG_BT_EPB || b.type == PDS_PCAPNG_BT_ISB) {
			guint32 ifid;

			memcpy(&ifid, out->data + start + 8, 4);
			g_assert_cmpuint(GUINT32_FROM_LE(ifid), ==, 42);
			/* Everything else is untouched. */
			g_assert_cmpmem(out->data + start, 8, b.raw, 8);
			g_assert_cmpmem(out->data + start + 12, b.length - 12, b.raw + 12,
					b.length - 12);
		} else {
			g_assert_cmpmem(out->data + start, b.length, b.raw, b.length);
		}
	}
	g_assert_no_error(error);
	g_assert_cmpuint(out->len, ==, in->len);
}

/* ---- Whole files ---- */

typedef struct {
	guint n_blocks;
	guint n_epb;
	guint stop_after;
	GArray *times; /* of guint64, EPB timestamp_ns */
} CountData;

static gboolean
count_block(PdsPcapngReader *reader,
	    const PdsPcapngBlock *block,
	    gpointer user_data,
	    GError **error)
{
	CountData *d = user_data;

	d->n_blocks++;
	if (block->type == PDS_PCAPNG_BT_EPB || block->type == PDS_PCAPNG_BT_SPB) {
		d->n_epb++;
		if (d->times != NULL)
			g_array_append_val(d->times, block->timestamp_ns);
	}
	if (d->stop_after != 0 && d->n_blocks == d->stop_after) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_CANCELLED, "stopped after %u blocks",
			    d->n_blocks);
		return FALSE;
	}
	return TRUE;
}

static gchar *
make_tmpdir(void)
{
	g_autoptr(GError) error = NULL;
	gchar *dir = g_dir_make_tmp(NULL, &error);

	g_assert_no_error(error);
	/* tshark may run unprivileged later: let everyone read. */
	g_chmod(dir, 0755);
	return dir;
}

static void
rm_rf(const char *dir)
{
	g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
	const char *name;

	if (d == NULL)
		return;
	while ((name = g_dir_read_name(d)) != NULL) {
		g_autofree gchar *path = g_build_filename(dir, name, NULL);
		g_unlink(path);
	}
	g_rmdir(dir);
}

static void
test_read_file(void)
{
	g_autofree gchar *dir = make_tmpdir();
	g_autofree gchar *path = g_build_filename(dir, "sample.pcapng", NULL);
	g_autofree gchar *cut = g_build_filename(dir, "cut.pcapng", NULL);
	g_autofree gchar *missing = g_build_filename(dir, "missing.pcapng", NULL);
	g_autoptr(GByteArray) in = write_sample();
	g_autoptr(GError) error = NULL;
	CountData d = {0};

	g_assert_true(g_file_set_contents(path, (const gchar *)in->data, in->len, &error));
	g_assert_true(g_file_set_contents(cut, (const gchar *)in->data, in->len - 3, &error));

	g_assert_true(pds_pcapng_read_file(path, count_block, &d, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(d.n_blocks, ==, 11);
	g_assert_cmpuint(d.n_epb, ==, 3);

	memset(&d, 0, sizeof(d));
	g_assert_false(pds_pcapng_read_file(cut, count_block, &d, &error));
	g_assert_error(error, PDS_PCAPNG_ERROR, PDS_PCAPNG_ERROR_TRUNCATED);
	g_assert_nonnull(strstr(error->message, cut));
	g_assert_nonnull(strstr(error->message, "3 bytes missing"));
	g_assert_cmpuint(d.n_blocks, ==, 10);
	g_clear_error(&error);

	memset(&d, 0, sizeof(d));
	d.stop_after = 2;
	g_assert_false(pds_pcapng_read_file(path, count_block, &d, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
	g_clear_error(&error);

	g_assert_false(pds_pcapng_read_file(missing, count_block, &d, &error));
	g_assert_error(error, G_FILE_ERROR, G_FILE_ERROR_NOENT);
	g_assert_nonnull(strstr(error->message, missing));
	g_clear_error(&error);

	rm_rf(dir);
}

/* ---- Mutated input never crashes or reads out of bounds ---- */

/* Uses a block the way callers do: options, custom kv, re-encoding. */
static void
poke_block(const PdsPcapngBlock *b, GByteArray *scratch)
{
	PdsPcapngOptionIter iter;
	guint16 code, len;
	const guint8 *value;
	guint64 u64;
	g_autofree gchar *kv = NULL;
	g_autofree gchar *str = NULL;
	g_autoptr(GError) error = NULL;
	guint sum = 0;

	pds_pcapng_option_iter_init(&iter, b);
	while (pds_pcapng_option_iter_next(&iter, &code, &value, &len)) {
		for (guint i = 0; i < len; i++)
			sum += value[i];
	}
	kv = pds_pcapng_block_dup_custom_kv(b, "pod");
	str = pds_pcapng_block_dup_option_string(b, PDS_PCAPNG_OPT_COMMENT);
	pds_pcapng_block_get_option_u64(b, PDS_PCAPNG_EPB_FLAGS, &u64);
	for (guint32 i = 0; i < b->caplen && b->packet != NULL; i++)
		sum += b->packet[i];
	for (gsize i = 0; i < b->custom_len; i++)
		sum += b->custom_data[i];
	g_byte_array_set_size(scratch, 0);
	if (!pds_pcapng_block_rewrite(b, 1, scratch, &error))
		g_assert_error(error, PDS_PCAPNG_ERROR, PDS_PCAPNG_ERROR_UNSUPPORTED);
	(void)sum;
}

static void
test_fuzz(void)
{
	g_autoptr(GByteArray) mixed = make_mixed_stream();
	g_autoptr(GByteArray) sample = write_sample();
	g_autoptr(GByteArray) scratch = g_byte_array_new();
	guint n_ok = 0, n_err = 0;

	for (guint round = 0; round < 3000; round++) {
		GByteArray *src = round % 2 ? mixed : sample;
		g_autoptr(GByteArray) in = g_byte_array_new();
		g_autoptr(PdsPcapngReader) reader = pds_pcapng_reader_new();
		g_autoptr(GError) error = NULL;
		PdsPcapngBlock b;
		guint n_mut = (guint)g_test_rand_int_range(1, 6);
		gsize step = (gsize)g_test_rand_int_range(1, 200);
		gsize pos = 0;

		g_byte_array_append(in, src->data, src->len);
		for (guint m = 0; m < n_mut; m++) {
			guint at = (guint)g_test_rand_int_range(0, (gint32)in->len);

			switch (g_test_rand_int_range(0, 4)) {
			case 0: /* one random byte */
				in->data[at] = (guint8)g_test_rand_int_range(0, 256);
				break;
			case 1: /* a length-ish field: small numbers break lengths best */
				if (at + 4 <= in->len) {
					guint32 v = (guint32)g_test_rand_int_range(0, 80);
					memcpy(in->data + at, &v, 4);
				}
				break;
			case 2: /* cut */
				g_byte_array_set_size(in, at);
				break;
			default: /* flip a bit */
				in->data[at] ^= (guint8)(1u << g_test_rand_int_range(0, 8));
				break;
			}
			if (in->len == 0)
				break;
		}

		while (error == NULL && pos < in->len) {
			gsize n = MIN(step, in->len - pos);

			pds_pcapng_reader_feed(reader, in->data + pos, n);
			pos += n;
			while (pds_pcapng_reader_next(reader, &b, &error)) {
				g_assert_cmpuint(b.offset + b.length, <=, in->len);
				g_assert_cmpuint(b.body_len + 12, ==, b.length);
				poke_block(&b, scratch);
			}
		}
		if (error == NULL)
			pds_pcapng_reader_finish(reader, &error);
		if (error != NULL) {
			g_assert_true(error->domain == PDS_PCAPNG_ERROR);
			g_assert_true(g_str_has_prefix(error->message, "block at offset "));
			n_err++;
		} else {
			g_assert_cmpuint(pds_pcapng_reader_get_offset(reader), ==, in->len);
			n_ok++;
		}
	}
	g_test_message("fuzz: %u streams read, %u refused", n_ok, n_err);
	g_assert_cmpuint(n_err, >, 0);
	g_assert_cmpuint(n_ok, >, 0);
}

/* ---- Real tshark and dumpcap ---- */

/* Runs a program, returns its stdout; NULL (test failed) when it fails. */
static gchar *
run_tool(const char *const *argv)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *out = NULL;
	g_autofree gchar *err = NULL;
	gint status = 0;

	if (!g_spawn_sync(NULL, (gchar **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, &err,
			  &status, &error)) {
		g_test_fail_printf("cannot run %s: %s", argv[0], error->message);
		return NULL;
	}
	if (!g_spawn_check_wait_status(status, &error)) {
		g_test_fail_printf("%s failed: %s\n%s", argv[0], error->message, err);
		return NULL;
	}
	return g_steal_pointer(&out);
}

static gboolean
have_tool(const char *name)
{
	g_autofree gchar *path = g_find_program_in_path(name);

	if (path == NULL) {
		g_autofree gchar *msg = g_strdup_printf("%s is not installed", name);
		g_test_skip(msg);
		return FALSE;
	}
	return TRUE;
}

static guint16
ip_checksum(const guint8 *p, gsize len)
{
	guint32 sum = 0;

	for (gsize i = 0; i + 1 < len; i += 2)
		sum += (guint32)(p[i] << 8 | p[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (guint16)~sum;
}

/* A raw IPv4/UDP packet from @src to 10.9.9.9, @payload_len bytes of payload. */
static gsize
make_udp(guint8 *buf, const guint8 src[4], guint16 dport, gsize payload_len)
{
	gsize total = 20 + 8 + payload_len;
	guint16 sum;

	memset(buf, 0, total);
	buf[0] = 0x45;
	buf[2] = (guint8)(total >> 8);
	buf[3] = (guint8)total;
	buf[8] = 64;
	buf[9] = 17;
	memcpy(buf + 12, src, 4);
	buf[16] = 10, buf[17] = 9, buf[18] = 9, buf[19] = 9;
	sum = ip_checksum(buf, 20);
	buf[10] = (guint8)(sum >> 8);
	buf[11] = (guint8)sum;
	buf[20] = 0x30, buf[21] = 0x39; /* sport 12345 */
	buf[22] = (guint8)(dport >> 8);
	buf[23] = (guint8)dport;
	buf[24] = (guint8)((8 + payload_len) >> 8);
	buf[25] = (guint8)(8 + payload_len);
	for (gsize i = 0; i < payload_len; i++)
		buf[28 + i] = (guint8)('a' + i % 26);
	return total;
}

static void
test_tshark_reads_ours(void)
{
	g_autofree gchar *dir = NULL;
	g_autofree gchar *path = NULL;
	g_autofree gchar *out = NULL;
	g_autoptr(GByteArray) file = g_byte_array_new();
	g_autoptr(PdsPcapngOptions) shb = pds_pcapng_options_new();
	g_autoptr(PdsPcapngOptions) ns = pds_pcapng_options_new();
	g_autoptr(PdsPcapngOptions) flags = pds_pcapng_options_new();
	g_autoptr(PdsPcapngNrb) nrb = pds_pcapng_nrb_new();
	g_autoptr(GError) error = NULL;
	g_auto(GStrv) lines = NULL;
	const guint8 web[4] = {10, 1, 2, 3};
	const guint8 db[4] = {10, 1, 2, 4};
	const guint64 times[] = {
		G_GUINT64_CONSTANT(1700000000123456789),
		G_GUINT64_CONSTANT(1700000000123456790),
		G_GUINT64_CONSTANT(1700000001000000001),
		G_GUINT64_CONSTANT(1700000002999999999),
	};
	guint8 pkt[256];
	gsize len;
	GString *expected = g_string_new(NULL);

	if (!have_tool("tshark"))
		return;
	dir = make_tmpdir();
	path = g_build_filename(dir, "ours.pcapng", NULL);

	pds_pcapng_options_add_string(shb, PDS_PCAPNG_SHB_USERAPPL, "podscope-test");
	pds_pcapng_options_add_custom_kv(shb, "pod", "web-7d9c");
	pds_pcapng_write_shb(file, shb);
	pds_pcapng_options_add_u8(ns, PDS_PCAPNG_IF_TSRESOL, 9);
	pds_pcapng_options_add_string(ns, PDS_PCAPNG_IF_NAME, "default/web-7d9c/eth0");
	pds_pcapng_write_idb(file, PDS_LINKTYPE_RAW, 262144, ns);
	pds_pcapng_write_idb(file, PDS_LINKTYPE_RAW, 262144, NULL); /* microseconds */
	pds_pcapng_nrb_add_ipv4(nrb, web, "web-7d9c.default");
	pds_pcapng_nrb_add_ipv4(nrb, db, "db.default.svc");
	pds_pcapng_write_nrb(file, nrb);
	pds_pcapng_options_add_u32(flags, PDS_PCAPNG_EPB_FLAGS, 0x1); /* inbound */
	for (guint i = 0; i < G_N_ELEMENTS(times); i++) {
		len = make_udp(pkt, i % 2 ? db : web, (guint16)(5000 + i), 3 + i * 7);
		pds_pcapng_write_epb(file, 0, times[i], pkt, (guint32)len, (guint32)len,
				     i == 0 ? flags : NULL);
		g_string_append_printf(expected,
				       "%" G_GUINT64_FORMAT ".%09" G_GUINT64_FORMAT "\t%s\t%u\n",
				       times[i] / 1000000000, times[i] % 1000000000,
				       i % 2 ? "db.default.svc" : "web-7d9c.default", 5000 + i);
	}
	/* A microsecond interface, a truncated capture (caplen < origlen). */
	len = make_udp(pkt, web, 6000, 100);
	pds_pcapng_write_epb(file, 1, G_GUINT64_CONSTANT(1700000003000001), pkt, 40, (guint32)len,
			     NULL);
	g_string_append(expected, "1700000003.000001000\tweb-7d9c.default\t6000\n");
	pds_pcapng_write_isb(file, 0, times[3], NULL);
	g_assert_true(g_file_set_contents(path, (const gchar *)file->data, file->len, &error));

	{
		/* -N n: names from the file's NRB. */
		const char *argv[] = {"tshark",	     "-r",	    path,
				      "-N",	     "n",	    "-T",
				      "fields",	     "-e",	    "frame.time_epoch",
				      "-e",	     "ip.src_host", "-e",
				      "udp.dstport", NULL};
		out = run_tool(argv);
	}
	g_assert_nonnull(out);
	g_assert_cmpstr(out, ==, expected->str);

	{
		const char *argv[] = {"tshark",
				      "-r",
				      path,
				      "-T",
				      "fields",
				      "-e",
				      "frame.len",
				      "-e",
				      "frame.cap_len",
				      "-e",
				      "frame.interface_name",
				      NULL};
		g_free(out);
		out = run_tool(argv);
	}
	g_assert_nonnull(out);
	lines = g_strsplit(g_strchomp(out), "\n", -1);
	g_assert_cmpuint(g_strv_length(lines), ==, 5);
	g_assert_cmpstr(lines[0], ==, "31\t31\tdefault/web-7d9c/eth0");
	/* tshark calls an interface without if_name "unknown". */
	g_assert_cmpstr(lines[4], ==, "128\t40\tunknown");

	g_string_free(expected, TRUE);
	rm_rf(dir);
}

typedef struct {
	gboolean done;
	GError *error;
} WaitData;

static void
wait_done(GObject *source, GAsyncResult *res, gpointer user_data)
{
	WaitData *w = user_data;

	g_subprocess_wait_check_finish(G_SUBPROCESS(source), res, &w->error);
	w->done = TRUE;
}

static void
test_reads_dumpcap(void)
{
	g_autofree gchar *dir = NULL;
	g_autofree gchar *path = NULL;
	g_autofree gchar *filter = NULL;
	g_autofree gchar *out = NULL;
	g_autoptr(GSubprocess) proc = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GArray) times = g_array_new(FALSE, FALSE, sizeof(guint64));
	g_autoptr(GString) ours = g_string_new(NULL);
	struct sockaddr_in addr = {0};
	socklen_t alen = sizeof(addr);
	WaitData w = {0};
	CountData d = {0};
	gint rx, tx;
	gint64 deadline;
	guint sent = 0;
	const guint n_packets = 10;

	if (!have_tool("dumpcap") || !have_tool("tshark"))
		return;
	if (getuid() != 0) {
		g_test_skip("capturing on lo needs root");
		return;
	}
	dir = make_tmpdir();
	path = g_build_filename(dir, "dumpcap.pcapng", NULL);

	/* Our own receiver on a kernel-chosen port, so the filter sees only us. */
	rx = socket(AF_INET, SOCK_DGRAM, 0);
	tx = socket(AF_INET, SOCK_DGRAM, 0);
	g_assert_cmpint(rx, >=, 0);
	g_assert_cmpint(tx, >=, 0);
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	g_assert_cmpint(bind(rx, (struct sockaddr *)&addr, sizeof(addr)), ==, 0);
	g_assert_cmpint(getsockname(rx, (struct sockaddr *)&addr, &alen), ==, 0);
	filter = g_strdup_printf("udp dst port %u", ntohs(addr.sin_port));

	proc = g_subprocess_new(
		G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_SILENCE, &error,
		"dumpcap", "-i", "lo", "-f", filter, "-c", "10", "-w", path, NULL);
	g_assert_no_error(error);
	g_subprocess_wait_check_async(proc, NULL, wait_done, &w);

	/* Packets sent before dumpcap listens are lost; keep sending until it has ten. */
	deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;
	while (!w.done && g_get_monotonic_time() < deadline) {
		gchar msg[64];
		gint n = g_snprintf(msg, sizeof(msg), "podscope test packet %u", sent++);

		g_assert_cmpint(
			sendto(tx, msg, (gsize)n, 0, (struct sockaddr *)&addr, sizeof(addr)), ==,
			n);
		g_usleep(20000);
		while (g_main_context_iteration(NULL, FALSE))
			;
	}
	if (!w.done) {
		g_subprocess_force_exit(proc);
		while (!w.done)
			g_main_context_iteration(NULL, TRUE);
		g_clear_error(&w.error);
		close(rx);
		close(tx);
		rm_rf(dir);
		g_test_fail_printf("dumpcap did not capture %u packets in 30 s", n_packets);
		return;
	}
	close(rx);
	close(tx);
	g_assert_no_error(w.error);
	g_test_message("sent %u packets for dumpcap", sent);

	d.times = times;
	g_assert_true(pds_pcapng_read_file(path, count_block, &d, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(d.n_epb, ==, n_packets);
	g_assert_cmpuint(d.n_blocks, >, n_packets); /* SHB, IDB, maybe ISB */
	for (guint i = 0; i < times->len; i++) {
		guint64 t = g_array_index(times, guint64, i);
		g_string_append_printf(ours, "%" G_GUINT64_FORMAT ".%09" G_GUINT64_FORMAT "\n",
				       t / 1000000000, t % 1000000000);
	}

	{
		const char *argv[] = {"tshark",		  "-r", path, "-T", "fields", "-e",
				      "frame.time_epoch", NULL};
		out = run_tool(argv);
	}
	g_assert_nonnull(out);
	/* Same packets, same nanoseconds as tshark reads them. */
	g_assert_cmpstr(out, ==, ours->str);
	rm_rf(dir);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);

	g_test_add_func("/pcapng/roundtrip", test_roundtrip);
	g_test_add_func("/pcapng/big-endian-and-sections", test_big_endian);
	g_test_add_func("/pcapng/byte-at-a-time", test_byte_at_a_time);
	g_test_add_func("/pcapng/borrowed-copies-little", test_borrowed_copies_little);
	for (guint i = 0; i < G_N_ELEMENTS(malformed_cases); i++) {
		g_autofree gchar *name =
			g_strdup_printf("/pcapng/malformed/%s", malformed_cases[i].name);
		g_test_add_data_func(name, &malformed_cases[i], test_malformed);
	}
	g_test_add_func("/pcapng/truncated", test_truncated);
	g_test_add_func("/pcapng/unknown-skipped", test_unknown_skipped);
	g_test_add_func("/pcapng/rewrite/big-endian", test_rewrite_big_endian);
	g_test_add_func("/pcapng/rewrite/little-endian", test_rewrite_little_endian);
	g_test_add_func("/pcapng/read-file", test_read_file);
	g_test_add_func("/pcapng/fuzz", test_fuzz);
	g_test_add_func("/pcapng/tshark/reads-ours", test_tshark_reads_ours);
	g_test_add_func("/pcapng/dumpcap/we-read-theirs", test_reads_dumpcap);
	return g_test_run();
}
