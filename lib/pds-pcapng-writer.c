/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pcapng writer. Each block is sized first, then the output array grows once
 * and the block is filled in place: no allocation per block beyond the
 * GByteArray's own growth, which matters on the capture path.
 */
#include "config.h"

#define G_LOG_DOMAIN "PdsPcapng"

#include <string.h>

#include "pds-pcapng-writer.h"

struct _PdsPcapngOptions {
	GByteArray *buf; /* encoded options, without opt_endofopt */
};

struct _PdsPcapngNrb {
	GByteArray *records; /* encoded records, without nrb_record_end */
	guint count;
};

static inline gsize
pad4(gsize len)
{
	return (len + 3u) & ~(gsize)3u;
}

static inline guint8 *
put_u16(guint8 *p, guint16 v)
{
	v = GUINT16_TO_LE(v);
	memcpy(p, &v, 2);
	return p + 2;
}

static inline guint8 *
put_u32(guint8 *p, guint32 v)
{
	v = GUINT32_TO_LE(v);
	memcpy(p, &v, 4);
	return p + 4;
}

static inline guint8 *
put_u64(guint8 *p, guint64 v)
{
	v = GUINT64_TO_LE(v);
	memcpy(p, &v, 8);
	return p + 8;
}

/* Copies @len bytes and zero-fills up to the next 32-bit boundary. */
static inline guint8 *
put_padded(guint8 *p, const void *data, gsize len)
{
	gsize padded = pad4(len);

	if (len > 0)
		memcpy(p, data, len);
	memset(p + len, 0, padded - len);
	return p + padded;
}

/* Grows @out by @total bytes, writes type and leading length, returns the body. */
static guint8 *
block_begin(GByteArray *out, guint32 type, guint32 total)
{
	guint old_len = out->len;
	guint8 *p;

	g_byte_array_set_size(out, old_len + total);
	p = out->data + old_len;
	p = put_u32(p, type);
	p = put_u32(p, total);
	return p;
}

static inline gsize
options_area_len(const PdsPcapngOptions *opts)
{
	if (opts == NULL || opts->buf->len == 0)
		return 0;
	return opts->buf->len + 4; /* plus opt_endofopt */
}

static guint8 *
put_options(guint8 *p, const PdsPcapngOptions *opts)
{
	if (opts == NULL || opts->buf->len == 0)
		return p;
	memcpy(p, opts->buf->data, opts->buf->len);
	p += opts->buf->len;
	p = put_u16(p, PDS_PCAPNG_OPT_ENDOFOPT);
	return put_u16(p, 0);
}

PdsPcapngOptions *
pds_pcapng_options_new(void)
{
	PdsPcapngOptions *opts = g_new0(PdsPcapngOptions, 1);

	opts->buf = g_byte_array_new();
	return opts;
}

void
pds_pcapng_options_free(PdsPcapngOptions *opts)
{
	if (opts == NULL)
		return;
	g_byte_array_unref(opts->buf);
	g_free(opts);
}

void
pds_pcapng_options_add(PdsPcapngOptions *opts, guint16 code, const void *value, guint16 len)
{
	guint old_len;
	guint8 *p;

	g_return_if_fail(opts != NULL);
	g_return_if_fail(code != PDS_PCAPNG_OPT_ENDOFOPT);
	g_return_if_fail(value != NULL || len == 0);

	old_len = opts->buf->len;
	g_byte_array_set_size(opts->buf, old_len + 4 + pad4(len));
	p = opts->buf->data + old_len;
	p = put_u16(p, code);
	p = put_u16(p, len);
	put_padded(p, value, len);
}

void
pds_pcapng_options_add_string(PdsPcapngOptions *opts, guint16 code, const char *value)
{
	gsize len;

	g_return_if_fail(value != NULL);
	len = strlen(value);
	g_return_if_fail(len <= G_MAXUINT16);
	pds_pcapng_options_add(opts, code, value, (guint16)len);
}

void
pds_pcapng_options_add_u8(PdsPcapngOptions *opts, guint16 code, guint8 value)
{
	pds_pcapng_options_add(opts, code, &value, 1);
}

void
pds_pcapng_options_add_u32(PdsPcapngOptions *opts, guint16 code, guint32 value)
{
	guint32 le = GUINT32_TO_LE(value);

	pds_pcapng_options_add(opts, code, &le, 4);
}

void
pds_pcapng_options_add_u64(PdsPcapngOptions *opts, guint16 code, guint64 value)
{
	guint64 le = GUINT64_TO_LE(value);

	pds_pcapng_options_add(opts, code, &le, 8);
}

void
pds_pcapng_options_add_custom_kv(PdsPcapngOptions *opts, const char *key, const char *value)
{
	gsize klen, vlen, len;
	guint old_len;
	guint8 *p;

	g_return_if_fail(opts != NULL);
	g_return_if_fail(key != NULL && value != NULL);

	klen = strlen(key);
	vlen = strlen(value);
	len = 4 + klen + 1 + vlen;
	g_return_if_fail(len <= G_MAXUINT16);

	/* Built in place: PEN, key, '=', value, padding. */
	old_len = opts->buf->len;
	g_byte_array_set_size(opts->buf, old_len + 4 + pad4(len));
	p = opts->buf->data + old_len;
	p = put_u16(p, PDS_PCAPNG_OPT_CUSTOM_STR);
	p = put_u16(p, (guint16)len);
	p = put_u32(p, PDS_PEN);
	memcpy(p, key, klen);
	p += klen;
	*p++ = '=';
	memcpy(p, value, vlen);
	p += vlen;
	memset(p, 0, pad4(len) - len);
}

gboolean
pds_pcapng_options_is_empty(const PdsPcapngOptions *opts)
{
	return opts == NULL || opts->buf->len == 0;
}

void
pds_pcapng_write_shb(GByteArray *out, const PdsPcapngOptions *opts)
{
	guint32 total;
	guint8 *p;

	g_return_if_fail(out != NULL);

	total = (guint32)(12 + 16 + options_area_len(opts));
	p = block_begin(out, PDS_PCAPNG_BT_SHB, total);
	p = put_u32(p, PDS_PCAPNG_BYTE_ORDER_MAGIC);
	p = put_u16(p, 1); /* major */
	p = put_u16(p, 0); /* minor */
	/* Section length unknown: we stream. */
	p = put_u64(p, G_MAXUINT64);
	p = put_options(p, opts);
	put_u32(p, total);
}

void
pds_pcapng_write_idb(GByteArray *out,
		     guint16 linktype,
		     guint32 snaplen,
		     const PdsPcapngOptions *opts)
{
	guint32 total;
	guint8 *p;

	g_return_if_fail(out != NULL);

	total = (guint32)(12 + 8 + options_area_len(opts));
	p = block_begin(out, PDS_PCAPNG_BT_IDB, total);
	p = put_u16(p, linktype);
	p = put_u16(p, 0); /* reserved */
	p = put_u32(p, snaplen);
	p = put_options(p, opts);
	put_u32(p, total);
}

void
pds_pcapng_write_epb(GByteArray *out,
		     guint32 interface_id,
		     guint64 timestamp,
		     const guint8 *data,
		     guint32 caplen,
		     guint32 origlen,
		     const PdsPcapngOptions *opts)
{
	gsize total;
	guint8 *p;

	g_return_if_fail(out != NULL);
	g_return_if_fail(data != NULL || caplen == 0);

	total = 12 + 20 + pad4(caplen) + options_area_len(opts);
	g_return_if_fail(total <= PDS_PCAPNG_MAX_BLOCK);

	p = block_begin(out, PDS_PCAPNG_BT_EPB, (guint32)total);
	p = put_u32(p, interface_id);
	p = put_u32(p, (guint32)(timestamp >> 32));
	p = put_u32(p, (guint32)timestamp);
	p = put_u32(p, caplen);
	p = put_u32(p, origlen);
	p = put_padded(p, data, caplen);
	p = put_options(p, opts);
	put_u32(p, (guint32)total);
}

void
pds_pcapng_write_isb(GByteArray *out,
		     guint32 interface_id,
		     guint64 timestamp,
		     const PdsPcapngOptions *opts)
{
	guint32 total;
	guint8 *p;

	g_return_if_fail(out != NULL);

	total = (guint32)(12 + 12 + options_area_len(opts));
	p = block_begin(out, PDS_PCAPNG_BT_ISB, total);
	p = put_u32(p, interface_id);
	p = put_u32(p, (guint32)(timestamp >> 32));
	p = put_u32(p, (guint32)timestamp);
	p = put_options(p, opts);
	put_u32(p, total);
}

void
pds_pcapng_write_custom(
	GByteArray *out, guint32 pen, const guint8 *data, gsize len, gboolean copyable)
{
	gsize total;
	guint8 *p;

	g_return_if_fail(out != NULL);
	g_return_if_fail(data != NULL || len == 0);

	total = 12 + 4 + pad4(len);
	g_return_if_fail(total <= PDS_PCAPNG_MAX_BLOCK);

	p = block_begin(out, copyable ? PDS_PCAPNG_BT_CUSTOM : PDS_PCAPNG_BT_CUSTOM_NOCOPY,
			(guint32)total);
	p = put_u32(p, pen);
	p = put_padded(p, data, len);
	put_u32(p, (guint32)total);
}

PdsPcapngNrb *
pds_pcapng_nrb_new(void)
{
	PdsPcapngNrb *nrb = g_new0(PdsPcapngNrb, 1);

	nrb->records = g_byte_array_new();
	return nrb;
}

void
pds_pcapng_nrb_free(PdsPcapngNrb *nrb)
{
	if (nrb == NULL)
		return;
	g_byte_array_unref(nrb->records);
	g_free(nrb);
}

static void
nrb_add(PdsPcapngNrb *nrb, guint16 type, const guint8 *addr, gsize addr_len, const char *name)
{
	gsize name_len, len;
	guint old_len;
	guint8 *p;

	name_len = strlen(name);
	len = addr_len + name_len + 1; /* names are NUL-terminated in NRB records */
	g_return_if_fail(len <= G_MAXUINT16);

	old_len = nrb->records->len;
	g_byte_array_set_size(nrb->records, old_len + 4 + pad4(len));
	p = nrb->records->data + old_len;
	p = put_u16(p, type);
	p = put_u16(p, (guint16)len);
	memcpy(p, addr, addr_len);
	p += addr_len;
	memcpy(p, name, name_len);
	p += name_len;
	memset(p, 0, pad4(len) - len + 1);
	nrb->count++;
}

void
pds_pcapng_nrb_add_ipv4(PdsPcapngNrb *nrb, const guint8 addr[4], const char *name)
{
	g_return_if_fail(nrb != NULL);
	g_return_if_fail(addr != NULL && name != NULL);
	nrb_add(nrb, PDS_PCAPNG_NRB_IPV4, addr, 4, name);
}

void
pds_pcapng_nrb_add_ipv6(PdsPcapngNrb *nrb, const guint8 addr[16], const char *name)
{
	g_return_if_fail(nrb != NULL);
	g_return_if_fail(addr != NULL && name != NULL);
	nrb_add(nrb, PDS_PCAPNG_NRB_IPV6, addr, 16, name);
}

guint
pds_pcapng_nrb_get_count(const PdsPcapngNrb *nrb)
{
	g_return_val_if_fail(nrb != NULL, 0);
	return nrb->count;
}

void
pds_pcapng_write_nrb(GByteArray *out, const PdsPcapngNrb *nrb)
{
	gsize total;
	guint8 *p;

	g_return_if_fail(out != NULL);
	g_return_if_fail(nrb != NULL);

	total = 12 + nrb->records->len + 4;
	g_return_if_fail(total <= PDS_PCAPNG_MAX_BLOCK);

	p = block_begin(out, PDS_PCAPNG_BT_NRB, (guint32)total);
	if (nrb->records->len > 0)
		memcpy(p, nrb->records->data, nrb->records->len);
	p += nrb->records->len;
	p = put_u16(p, PDS_PCAPNG_NRB_END);
	p = put_u16(p, 0);
	put_u32(p, (guint32)total);
}
