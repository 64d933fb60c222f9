/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * PodScope records: building, strict parsing, and the two envelopes.
 * Records come from the network, so every length is checked before use.
 */
#include "config.h"

#define G_LOG_DOMAIN "PdsRecord"

#include <string.h>

#include "pds-pcapng-writer.h"
#include "pds-record-codec.h"

G_DEFINE_QUARK(pds_record_error_quark, pds_record_error)

/*
 * Exported-PDU tags (Wireshark's exported_pdu_tlvs.h): big-endian u16 tag,
 * big-endian u16 length, value whose length includes any NUL padding, the
 * list ended by tag 0 with length 0.
 */
#define EXP_PDU_TAG_END_OF_OPT	   0
#define EXP_PDU_TAG_DISSECTOR_NAME 12

/* Its own buffer rather than a GByteArray: a flow record takes dozens of
 * fields, and each of them would be a resize call. */
struct _PdsRecordBuilder {
	guint8 *data; /* NULL once pds_record_builder_end() took it */
	gsize len;
	gsize alloc;
};

static inline gsize
pad4(gsize len)
{
	return (len + 3u) & ~(gsize)3u;
}

static inline guint16
le16(const guint8 *p)
{
	guint16 v;

	memcpy(&v, p, 2);
	return GUINT16_FROM_LE(v);
}

static inline guint32
le32(const guint8 *p)
{
	guint32 v;

	memcpy(&v, p, 4);
	return GUINT32_FROM_LE(v);
}

static inline guint64
le64(const guint8 *p)
{
	guint64 v;

	memcpy(&v, p, 8);
	return GUINT64_FROM_LE(v);
}

static inline void
set_le16(guint8 *p, guint16 v)
{
	v = GUINT16_TO_LE(v);
	memcpy(p, &v, 2);
}

static inline void
set_le32(guint8 *p, guint32 v)
{
	v = GUINT32_TO_LE(v);
	memcpy(p, &v, 4);
}

PdsRecordBuilder *
pds_record_builder_new(PdsRecordType type, guint32 interface_id, guint64 timestamp_ns)
{
	PdsRecordBuilder *builder = g_new(PdsRecordBuilder, 1);
	guint8 *p;

	/* Most records fit, a flow record with two 1 KiB body prefixes too;
	 * the buffer grows when one does not. */
	builder->alloc = 2560;
	builder->data = g_malloc(builder->alloc);
	builder->len = PDS_RECORD_HEADER_LEN;
	p = builder->data;
	set_le16(p, (guint16)type);
	set_le16(p + 2, PDS_RECORD_VERSION);
	set_le32(p + 4, 0); /* fixed by _end() */
	set_le32(p + 8, interface_id);
	set_le32(p + 12, (guint32)(timestamp_ns >> 32));
	set_le32(p + 16, (guint32)timestamp_ns);
	return builder;
}

void
pds_record_builder_free(PdsRecordBuilder *builder)
{
	if (builder == NULL)
		return;
	g_free(builder->data);
	g_free(builder);
}

/* Room for @extra more bytes. */
static guint8 *
pds_record_builder_reserve(PdsRecordBuilder *builder, gsize extra)
{
	if (builder->len + extra > builder->alloc) {
		builder->alloc = MAX(builder->alloc * 2, builder->len + extra);
		builder->data = g_realloc(builder->data, builder->alloc);
	}
	return builder->data + builder->len;
}

void
pds_record_builder_add(PdsRecordBuilder *builder, guint16 code, const void *value, gsize len)
{
	gsize padded = pad4(len);
	guint8 *p;

	g_return_if_fail(builder != NULL);
	g_return_if_fail(builder->data != NULL);
	g_return_if_fail(code != 0);
	g_return_if_fail(value != NULL || len == 0);
	g_return_if_fail(len <= G_MAXUINT16);
	/* Leave room for the end code. */
	g_return_if_fail(builder->len + 4 + padded + 4 <= PDS_RECORD_MAX_LEN);

	p = pds_record_builder_reserve(builder, 4 + padded);
	set_le16(p, code);
	set_le16(p + 2, (guint16)len);
	if (len > 0)
		memcpy(p + 4, value, len);
	for (gsize i = len; i < padded; i++)
		p[4 + i] = 0;
	builder->len += 4 + padded;
}

void
pds_record_builder_add_string(PdsRecordBuilder *builder, guint16 code, const char *value)
{
	g_return_if_fail(value != NULL);
	pds_record_builder_add(builder, code, value, strlen(value));
}

void
pds_record_builder_add_u8(PdsRecordBuilder *builder, guint16 code, guint8 value)
{
	pds_record_builder_add(builder, code, &value, 1);
}

void
pds_record_builder_add_u16(PdsRecordBuilder *builder, guint16 code, guint16 value)
{
	guint16 le = GUINT16_TO_LE(value);

	pds_record_builder_add(builder, code, &le, 2);
}

void
pds_record_builder_add_u32(PdsRecordBuilder *builder, guint16 code, guint32 value)
{
	guint32 le = GUINT32_TO_LE(value);

	pds_record_builder_add(builder, code, &le, 4);
}

void
pds_record_builder_add_u64(PdsRecordBuilder *builder, guint16 code, guint64 value)
{
	guint64 le = GUINT64_TO_LE(value);

	pds_record_builder_add(builder, code, &le, 8);
}

void
pds_record_builder_add_i64(PdsRecordBuilder *builder, guint16 code, gint64 value)
{
	pds_record_builder_add_u64(builder, code, (guint64)value);
}

GBytes *
pds_record_builder_end(PdsRecordBuilder *builder)
{
	guint8 *p;

	g_return_val_if_fail(builder != NULL, NULL);
	g_return_val_if_fail(builder->data != NULL, NULL);

	p = pds_record_builder_reserve(builder, 4);
	memset(p, 0, 4); /* code 0, length 0 */
	builder->len += 4;
	set_le32(builder->data + 4, (guint32)builder->len);
	return g_bytes_new_take(g_steal_pointer(&builder->data), builder->len);
}

gboolean
pds_record_parse_header(const guint8 *data, gsize len, PdsRecordHeader *header, GError **error)
{
	PdsRecordHeader h;

	g_return_val_if_fail(data != NULL || len == 0, FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	if (len < PDS_RECORD_HEADER_LEN) {
		g_set_error(error, PDS_RECORD_ERROR, PDS_RECORD_ERROR_TRUNCATED,
			    "record of %" G_GSIZE_FORMAT
			    " bytes is shorter than its %u-byte header",
			    len, (guint)PDS_RECORD_HEADER_LEN);
		return FALSE;
	}
	h.type = le16(data);
	h.version = le16(data + 2);
	h.length = le32(data + 4);
	h.interface_id = le32(data + 8);
	h.timestamp_ns = ((guint64)le32(data + 12) << 32) | le32(data + 16);

	if (h.version != PDS_RECORD_VERSION) {
		g_set_error(error, PDS_RECORD_ERROR, PDS_RECORD_ERROR_BAD_VERSION,
			    "record version %u is not supported (this build reads version %u); "
			    "upgrade PodScope",
			    h.version, (guint)PDS_RECORD_VERSION);
		return FALSE;
	}
	if (h.length < PDS_RECORD_HEADER_LEN || h.length > PDS_RECORD_MAX_LEN) {
		g_set_error(error, PDS_RECORD_ERROR, PDS_RECORD_ERROR_BAD_LENGTH,
			    "record length %u is outside %u..%u", h.length,
			    (guint)PDS_RECORD_HEADER_LEN, (guint)PDS_RECORD_MAX_LEN);
		return FALSE;
	}
	if (h.length > len) {
		g_set_error(error, PDS_RECORD_ERROR, PDS_RECORD_ERROR_TRUNCATED,
			    "record length %u is more than the %" G_GSIZE_FORMAT " bytes available",
			    h.length, len);
		return FALSE;
	}
	if (header != NULL)
		*header = h;
	return TRUE;
}

/* One field at @p; FALSE with @error set when it does not fit before @end. */
static gboolean
field_check(const guint8 *start, const guint8 *p, const guint8 *end, GError **error)
{
	guint16 code, len;

	if (end - p < 4) {
		g_set_error(error, PDS_RECORD_ERROR, PDS_RECORD_ERROR_BAD_FIELD,
			    "record ends at byte %u without its end code", (guint)(p - start));
		return FALSE;
	}
	code = le16(p);
	len = le16(p + 2);
	if (code != 0 && pad4(len) > (gsize)(end - p - 4)) {
		g_set_error(error, PDS_RECORD_ERROR, PDS_RECORD_ERROR_BAD_FIELD,
			    "field %u at byte %u has length %u, beyond the record's end", code,
			    (guint)(p - start), len);
		return FALSE;
	}
	return TRUE;
}

gboolean
pds_record_iter_init(PdsRecordIter *iter,
		     const guint8 *record,
		     gsize len,
		     PdsRecordHeader *header,
		     GError **error)
{
	PdsRecordHeader h;
	const guint8 *p, *end;

	g_return_val_if_fail(iter != NULL, FALSE);

	iter->p = iter->end = NULL;
	if (!pds_record_parse_header(record, len, &h, error))
		return FALSE;

	/* Walk once up front so a consumer never acts on half a bad record. */
	p = record + PDS_RECORD_HEADER_LEN;
	end = record + h.length;
	while (TRUE) {
		if (!field_check(record, p, end, error))
			return FALSE;
		if (le16(p) == 0)
			break;
		p += 4 + pad4(le16(p + 2));
	}

	iter->p = record + PDS_RECORD_HEADER_LEN;
	iter->end = end;
	if (header != NULL)
		*header = h;
	return TRUE;
}

gboolean
pds_record_iter_next(
	PdsRecordIter *iter, guint16 *code, const guint8 **value, guint16 *len, GError **error)
{
	guint16 c, l;

	g_return_val_if_fail(iter != NULL, FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	if (iter->p == NULL)
		return FALSE;
	if (!field_check(iter->p, iter->p, iter->end, error)) {
		iter->p = NULL;
		return FALSE;
	}
	c = le16(iter->p);
	l = le16(iter->p + 2);
	if (c == 0) {
		iter->p = NULL;
		return FALSE;
	}
	if (code != NULL)
		*code = c;
	if (value != NULL)
		*value = iter->p + 4;
	if (len != NULL)
		*len = l;
	iter->p += 4 + pad4(l);
	return TRUE;
}

gboolean
pds_record_value_u8(const guint8 *value, guint16 len, guint8 *out)
{
	if (value == NULL || len != 1)
		return FALSE;
	if (out != NULL)
		*out = value[0];
	return TRUE;
}

gboolean
pds_record_value_u16(const guint8 *value, guint16 len, guint16 *out)
{
	if (value == NULL || len != 2)
		return FALSE;
	if (out != NULL)
		*out = le16(value);
	return TRUE;
}

gboolean
pds_record_value_u32(const guint8 *value, guint16 len, guint32 *out)
{
	if (value == NULL || len != 4)
		return FALSE;
	if (out != NULL)
		*out = le32(value);
	return TRUE;
}

gboolean
pds_record_value_u64(const guint8 *value, guint16 len, guint64 *out)
{
	if (value == NULL || len != 8)
		return FALSE;
	if (out != NULL)
		*out = le64(value);
	return TRUE;
}

gchar *
pds_record_value_dup_string(const guint8 *value, guint16 len)
{
	g_return_val_if_fail(value != NULL || len == 0, NULL);
	if (len == 0)
		return g_strdup("");
	return g_strndup((const gchar *)value, len);
}

void
pds_record_write_custom_block(GByteArray *out, GBytes *record)
{
	gsize len;
	const guint8 *data;

	g_return_if_fail(out != NULL);
	g_return_if_fail(record != NULL);

	data = g_bytes_get_data(record, &len);
	pds_pcapng_write_custom(out, PDS_PEN, data, len, TRUE);
}

static inline void
append_be16(GByteArray *out, guint16 v)
{
	v = GUINT16_TO_BE(v);
	g_byte_array_append(out, (const guint8 *)&v, 2);
}

void
pds_record_append_exported_pdu(GByteArray *out, const guint8 *record, gsize len)
{
	static const guint8 zeros[4] = {0};
	const gsize name_len = sizeof(PDS_RECORD_PROTO_NAME) - 1;
	const gsize name_padded = pad4(name_len);

	g_return_if_fail(out != NULL);
	g_return_if_fail(record != NULL || len == 0);

	/* Dissector name, NUL-padded to 32 bits (the padding counts in the length). */
	append_be16(out, EXP_PDU_TAG_DISSECTOR_NAME);
	append_be16(out, (guint16)name_padded);
	g_byte_array_append(out, (const guint8 *)PDS_RECORD_PROTO_NAME, (guint)name_len);
	if (name_padded != name_len)
		g_byte_array_append(out, zeros, (guint)(name_padded - name_len));
	append_be16(out, EXP_PDU_TAG_END_OF_OPT);
	append_be16(out, 0);
	if (len > 0)
		g_byte_array_append(out, record, (guint)len);
}

const guint8 *
pds_record_from_exported_pdu(const guint8 *payload, gsize len, gsize *record_len)
{
	const guint8 *p = payload;
	const guint8 *end = payload + len;
	gboolean named = FALSE;

	g_return_val_if_fail(payload != NULL || len == 0, NULL);

	while (end - p >= 4) {
		guint16 tag, tlen;

		memcpy(&tag, p, 2);
		memcpy(&tlen, p + 2, 2);
		tag = GUINT16_FROM_BE(tag);
		tlen = GUINT16_FROM_BE(tlen);
		if ((gsize)(end - p - 4) < tlen)
			return NULL;
		if (tag == EXP_PDU_TAG_END_OF_OPT) {
			p += 4 + tlen;
			if (!named)
				return NULL;
			if (record_len != NULL)
				*record_len = (gsize)(end - p);
			return p;
		}
		if (tag == EXP_PDU_TAG_DISSECTOR_NAME) {
			gsize n = tlen;

			/* Strings may carry any number of trailing NULs. */
			while (n > 0 && p[4 + n - 1] == '\0')
				n--;
			named = n == sizeof(PDS_RECORD_PROTO_NAME) - 1 &&
				memcmp(p + 4, PDS_RECORD_PROTO_NAME, n) == 0;
		}
		p += 4 + tlen;
	}
	return NULL;
}

const char *
pds_record_type_to_string(guint16 type)
{
	switch (type) {
	case PDS_RECORD_FILE_ACCESS:
		return "file-access";
	case PDS_RECORD_FLOW:
		return "flow";
	case PDS_RECORD_SOURCE:
		return "source";
	case PDS_RECORD_CONTROL:
		return "control";
	default:
		return "unknown";
	}
}
