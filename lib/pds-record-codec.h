/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Encoding and decoding of PodScope records (layout in pds-record.h), and
 * their two envelopes: a pcapng Custom Block, or an Exported PDU packet.
 */
#pragma once

#include <glib.h>

#include "pds-record.h"

G_BEGIN_DECLS

#define PDS_RECORD_ERROR (pds_record_error_quark())
GQuark pds_record_error_quark(void);

typedef enum {
	PDS_RECORD_ERROR_TRUNCATED,
	PDS_RECORD_ERROR_BAD_LENGTH,
	PDS_RECORD_ERROR_BAD_VERSION,
	PDS_RECORD_ERROR_BAD_FIELD,
} PdsRecordError;

typedef struct {
	guint16 type;
	guint16 version;
	guint32 length;
	guint32 interface_id;
	guint64 timestamp_ns;
} PdsRecordHeader;

/* Building */
typedef struct _PdsRecordBuilder PdsRecordBuilder;
PdsRecordBuilder *
pds_record_builder_new(PdsRecordType type, guint32 interface_id, guint64 timestamp_ns);
void pds_record_builder_free(PdsRecordBuilder *builder);
void pds_record_builder_add(PdsRecordBuilder *builder, guint16 code, const void *value, gsize len);
void pds_record_builder_add_string(PdsRecordBuilder *builder, guint16 code, const char *value);
void pds_record_builder_add_u8(PdsRecordBuilder *builder, guint16 code, guint8 value);
void pds_record_builder_add_u16(PdsRecordBuilder *builder, guint16 code, guint16 value);
void pds_record_builder_add_u32(PdsRecordBuilder *builder, guint16 code, guint32 value);
void pds_record_builder_add_u64(PdsRecordBuilder *builder, guint16 code, guint64 value);
void pds_record_builder_add_i64(PdsRecordBuilder *builder, guint16 code, gint64 value);
/* Ends the TLV list, fixes record_length and returns the record. The builder is spent. */
GBytes *pds_record_builder_end(PdsRecordBuilder *builder);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PdsRecordBuilder, pds_record_builder_free)

/* Parsing: the header is checked against @len (record_length <= len). */
gboolean
pds_record_parse_header(const guint8 *data, gsize len, PdsRecordHeader *header, GError **error);

typedef struct {
	const guint8 *p;
	const guint8 *end;
} PdsRecordIter;

gboolean pds_record_iter_init(PdsRecordIter *iter,
			      const guint8 *record,
			      gsize len,
			      PdsRecordHeader *header,
			      GError **error);
/* TRUE with a field; FALSE at code 0 (error unset) or on a malformed field (error set). */
gboolean pds_record_iter_next(
	PdsRecordIter *iter, guint16 *code, const guint8 **value, guint16 *len, GError **error);

/* Field value helpers (little-endian); FALSE when @len is wrong for the type. */
gboolean pds_record_value_u8(const guint8 *value, guint16 len, guint8 *out);
gboolean pds_record_value_u16(const guint8 *value, guint16 len, guint16 *out);
gboolean pds_record_value_u32(const guint8 *value, guint16 len, guint32 *out);
gboolean pds_record_value_u64(const guint8 *value, guint16 len, guint64 *out);
gchar *pds_record_value_dup_string(const guint8 *value, guint16 len);

/* Envelopes */
/* Custom Block (type 0x00000BAD, PEN PDS_PEN) around @record, appended to @out. */
void pds_record_write_custom_block(GByteArray *out, GBytes *record);
/*
 * Exported-PDU payload: the tags naming the "podscope" dissector, then the
 * record. Write it as an EPB on an interface of linktype 252.
 */
void pds_record_append_exported_pdu(GByteArray *out, const guint8 *record, gsize len);
/* The record inside an Exported-PDU payload, or NULL if the tags do not name "podscope". */
const guint8 *pds_record_from_exported_pdu(const guint8 *payload, gsize len, gsize *record_len);

/* Human-readable names for tools and logs. */
const char *pds_record_type_to_string(guint16 type);

G_END_DECLS
