/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Streaming pcapng reader. Input is appended to one buffer and blocks are
 * handed out as pointers into it; the consumed front is dropped only when it
 * is worth a memmove, so the hub's hot path copies each byte once.
 */
#include "config.h"

#define G_LOG_DOMAIN "PdsPcapng"

#include <errno.h>
#include <string.h>

#include "pds-pcapng-reader.h"

G_DEFINE_QUARK(pds_pcapng_error_quark, pds_pcapng_error)

/* Drop the consumed front once it is at least this big (or half the buffer). */
#define COMPACT_THRESHOLD (256u * 1024u)

struct _PdsPcapngReader {
	GByteArray *buf; /* owned input */
	/* The bytes being parsed: buf->data, or borrowed memory (pds_pcapng_read_file). */
	const guint8 *data;
	gsize len;
	gsize pos;	   /* first unconsumed byte of data */
	gboolean borrowed; /* data is not buf->data */
	/* Borrowed input that follows the owned bytes: parsed in place once
	 * the owned block before it is read (pds_pcapng_reader_feed_borrowed). */
	const guint8 *next_data;
	gsize next_len;
	guint64 copied;	     /* input bytes copied into buf, for the tests */
	guint64 offset;	     /* stream offset of data[pos] */
	gboolean in_section; /* an SHB was read */
	gboolean big_endian; /* byte order of the current section */
	guint section;	     /* index of the current section */
	GArray *interfaces;  /* of PdsPcapngInterface, current section */
	GError *failure;     /* set once the input proved malformed */
};

static inline guint16
rd16(gboolean be, const guint8 *p)
{
	guint16 v;

	memcpy(&v, p, 2);
	return be ? GUINT16_FROM_BE(v) : GUINT16_FROM_LE(v);
}

static inline guint32
rd32(gboolean be, const guint8 *p)
{
	guint32 v;

	memcpy(&v, p, 4);
	return be ? GUINT32_FROM_BE(v) : GUINT32_FROM_LE(v);
}

static inline guint64
rd64(gboolean be, const guint8 *p)
{
	guint64 v;

	memcpy(&v, p, 8);
	return be ? GUINT64_FROM_BE(v) : GUINT64_FROM_LE(v);
}

static inline gsize
pad4(gsize len)
{
	return (len + 3u) & ~(gsize)3u;
}

static void
interface_clear(gpointer data)
{
	PdsPcapngInterface *iface = data;

	g_clear_pointer(&iface->name, g_free);
	g_clear_pointer(&iface->description, g_free);
}

PdsPcapngReader *
pds_pcapng_reader_new(void)
{
	PdsPcapngReader *reader = g_new0(PdsPcapngReader, 1);

	reader->buf = g_byte_array_new();
	reader->data = reader->buf->data;
	reader->interfaces = g_array_new(FALSE, TRUE, sizeof(PdsPcapngInterface));
	g_array_set_clear_func(reader->interfaces, interface_clear);
	return reader;
}

void
pds_pcapng_reader_free(PdsPcapngReader *reader)
{
	if (reader == NULL)
		return;
	g_byte_array_unref(reader->buf);
	g_array_unref(reader->interfaces);
	g_clear_error(&reader->failure);
	g_free(reader);
}

static void
reader_copy_in(PdsPcapngReader *reader, const guint8 *data, gsize len)
{
	g_byte_array_append(reader->buf, data, (guint)len);
	reader->copied += len;
}

/* Moves whatever is left of borrowed input into the owned buffer. */
static void
reader_own_input(PdsPcapngReader *reader)
{
	if (reader->next_data != NULL) {
		/* owned bytes first, then the borrowed rest behind them */
		reader_copy_in(reader, reader->next_data, reader->next_len);
		reader->next_data = NULL;
		reader->next_len = 0;
		reader->data = reader->buf->data;
		reader->len = reader->buf->len;
		return;
	}
	if (!reader->borrowed)
		return;
	g_byte_array_set_size(reader->buf, 0);
	reader_copy_in(reader, reader->data + reader->pos, reader->len - reader->pos);
	reader->borrowed = FALSE;
	reader->data = reader->buf->data;
	reader->len = reader->buf->len;
	reader->pos = 0;
}

void
pds_pcapng_reader_feed(PdsPcapngReader *reader, const guint8 *data, gsize len)
{
	g_return_if_fail(reader != NULL);
	g_return_if_fail(data != NULL || len == 0);

	reader_own_input(reader);

	/* Block pointers die here by contract, so this is where the front may go. */
	if (reader->pos == reader->buf->len) {
		g_byte_array_set_size(reader->buf, 0);
		reader->pos = 0;
	} else if (reader->pos >= COMPACT_THRESHOLD || reader->pos > reader->buf->len / 2) {
		g_byte_array_remove_range(reader->buf, 0, (guint)reader->pos);
		reader->pos = 0;
	}
	if (len > 0)
		reader_copy_in(reader, data, len);
	reader->data = reader->buf->data;
	reader->len = reader->buf->len;
}

void
pds_pcapng_reader_release_input(PdsPcapngReader *reader)
{
	g_return_if_fail(reader != NULL);
	reader_own_input(reader);
}

/*
 * Byte order of a section header block from its magic (@p holds at least 12
 * bytes of it); FALSE when the magic is neither order's.
 */
static gboolean
shb_byte_order(const guint8 *p, gboolean *big_endian)
{
	guint32 magic = rd32(FALSE, p + 8);

	if (magic == PDS_PCAPNG_BYTE_ORDER_MAGIC)
		*big_endian = FALSE;
	else if (magic == GUINT32_SWAP_LE_BE(PDS_PCAPNG_BYTE_ORDER_MAGIC))
		*big_endian = TRUE;
	else
		return FALSE;
	return TRUE;
}

/*
 * How many bytes of @data complete the block whose start is pending in the
 * owned buffer; 0 when that cannot be told (fewer than 12 bytes in all, or a
 * length the parser is going to refuse anyway).
 */
static gsize
reader_bytes_to_complete(PdsPcapngReader *reader, const guint8 *data, gsize len)
{
	gsize pending = reader->len - reader->pos;
	guint8 head[12];
	gsize from_pending = MIN(pending, sizeof(head));
	gboolean be = reader->big_endian;
	guint32 total;

	if (pending + len < sizeof(head))
		return 0;
	memcpy(head, reader->data + reader->pos, from_pending);
	memcpy(head + from_pending, data, sizeof(head) - from_pending);
	if (rd32(FALSE, head) == PDS_PCAPNG_BT_SHB && !shb_byte_order(head, &be))
		return 0;
	total = rd32(be, head + 4);
	if (total % 4 != 0 || total < 12 || total > PDS_PCAPNG_MAX_BLOCK || total <= pending)
		return 0;
	return total - pending;
}

/*
 * Parses directly from @data, which must outlive the reader's use of it.
 * When the start of a block is pending from the previous input, only the
 * bytes that complete it are copied and the rest is parsed in place: a
 * stream read in pieces that end mid-block (64 KiB packets in 256 KiB reads)
 * would otherwise be copied whole, piece after piece.
 */
void
pds_pcapng_reader_feed_borrowed(PdsPcapngReader *reader, const guint8 *data, gsize len)
{
	gsize need;

	g_return_if_fail(reader != NULL);
	g_return_if_fail(data != NULL || len == 0);

	reader_own_input(reader);
	if (reader->pos == reader->len) {
		reader->borrowed = TRUE;
		reader->data = data;
		reader->len = len;
		reader->pos = 0;
		return;
	}
	need = reader_bytes_to_complete(reader, data, len);
	if (need == 0 || need >= len) {
		pds_pcapng_reader_feed(reader, data, len);
		return;
	}
	pds_pcapng_reader_feed(reader, data, need);
	reader->next_data = data + need;
	reader->next_len = len - need;
}

guint64
pds_pcapng_reader_get_copied_bytes(PdsPcapngReader *reader)
{
	g_return_val_if_fail(reader != NULL, 0);
	return reader->copied;
}

static gboolean
reader_fail(PdsPcapngReader *reader, GError **error, gint code, const char *format, ...)
	G_GNUC_PRINTF(4, 5);

static gboolean
reader_fail(PdsPcapngReader *reader, GError **error, gint code, const char *format, ...)
{
	va_list args;
	g_autofree gchar *msg = NULL;

	va_start(args, format);
	msg = g_strdup_vprintf(format, args);
	va_end(args);

	g_clear_error(&reader->failure);
	reader->failure =
		g_error_new(PDS_PCAPNG_ERROR, code, "block at offset %" G_GUINT64_FORMAT ": %s",
			    reader->offset, msg);
	if (error != NULL)
		*error = g_error_copy(reader->failure);
	return FALSE;
}

/* Converts interface ticks to nanoseconds without overflowing the intermediate. */
static guint64
ticks_to_ns(guint64 ticks, guint64 per_second)
{
	if (per_second == G_GUINT64_CONSTANT(1000000000))
		return ticks;
	if (per_second == 0)
		return 0;
	if (G_GUINT64_CONSTANT(1000000000) % per_second == 0)
		return ticks * (G_GUINT64_CONSTANT(1000000000) / per_second);
#ifdef __SIZEOF_INT128__
	return (guint64)(((unsigned __int128)ticks * 1000000000u) / per_second);
#else
	return (ticks / per_second) * G_GUINT64_CONSTANT(1000000000) +
	       (guint64)((double)(ticks % per_second) * 1e9 / (double)per_second);
#endif
}

/* Walks an options area; FALSE with @why set when an option overruns it. */
static gboolean
options_check(gboolean be, const guint8 *p, gsize len, const char **why)
{
	const guint8 *end = p + len;

	while ((gsize)(end - p) >= 4) {
		guint16 code = rd16(be, p);
		guint16 olen = rd16(be, p + 2);

		if (code == PDS_PCAPNG_OPT_ENDOFOPT)
			return TRUE;
		if (pad4(olen) > (gsize)(end - p - 4)) {
			*why = "an option runs past the end of the block";
			return FALSE;
		}
		p += 4 + pad4(olen);
	}
	return TRUE;
}

static gboolean
parse_idb(PdsPcapngReader *reader, PdsPcapngBlock *block, GError **error)
{
	PdsPcapngInterface iface = {0};
	PdsPcapngOptionIter iter;
	guint16 code, olen;
	const guint8 *value;

	if (block->body_len < 8)
		return reader_fail(reader, error, PDS_PCAPNG_ERROR_MALFORMED,
				   "interface description block of %u bytes is too short",
				   block->length);
	block->linktype = rd16(block->big_endian, block->body);
	block->snaplen = rd32(block->big_endian, block->body + 4);
	block->options = block->body + 8;
	block->options_len = block->body_len - 8;

	iface.linktype = block->linktype;
	iface.snaplen = block->snaplen;
	iface.ticks_per_second = 1000000;
	pds_pcapng_option_iter_init(&iter, block);
	while (pds_pcapng_option_iter_next(&iter, &code, &value, &olen)) {
		if (code == PDS_PCAPNG_IF_TSRESOL && olen >= 1) {
			guint8 res = value[0];
			guint exp = res & 0x7f;

			if (res & 0x80) {
				if (exp > 63) {
					interface_clear(&iface);
					return reader_fail(
						reader, error, PDS_PCAPNG_ERROR_UNSUPPORTED,
						"if_tsresol 2^-%u is beyond 64-bit counters", exp);
				}
				iface.ticks_per_second = G_GUINT64_CONSTANT(1) << exp;
			} else {
				if (exp > 19) {
					interface_clear(&iface);
					return reader_fail(
						reader, error, PDS_PCAPNG_ERROR_UNSUPPORTED,
						"if_tsresol 10^-%u is beyond 64-bit counters", exp);
				}
				iface.ticks_per_second = 1;
				for (guint i = 0; i < exp; i++)
					iface.ticks_per_second *= 10;
			}
		} else if (code == PDS_PCAPNG_IF_NAME && iface.name == NULL) {
			iface.name = g_strndup((const gchar *)value, olen);
		} else if (code == PDS_PCAPNG_IF_DESCRIPTION && iface.description == NULL) {
			iface.description = g_strndup((const gchar *)value, olen);
		}
	}
	g_array_append_val(reader->interfaces, iface);
	return TRUE;
}

static gboolean
parse_body(PdsPcapngReader *reader, PdsPcapngBlock *block, GError **error)
{
	gboolean be = block->big_endian;
	const guint8 *body = block->body;
	gsize body_len = block->body_len;
	const char *why = NULL;

	switch (block->type) {
	case PDS_PCAPNG_BT_SHB:
		/* Length was checked by the caller (>= 28). */
		block->major = rd16(be, body + 4);
		block->minor = rd16(be, body + 6);
		if (block->major != 1)
			return reader_fail(
				reader, error, PDS_PCAPNG_ERROR_UNSUPPORTED,
				"section version %u.%u is not supported (major must be 1)",
				block->major, block->minor);
		block->options = body + 16;
		block->options_len = body_len - 16;
		break;
	case PDS_PCAPNG_BT_IDB:
		if (!parse_idb(reader, block, error))
			return FALSE;
		break;
	case PDS_PCAPNG_BT_EPB: {
		const PdsPcapngInterface *iface;

		if (body_len < 20)
			return reader_fail(reader, error, PDS_PCAPNG_ERROR_MALFORMED,
					   "enhanced packet block of %u bytes is too short",
					   block->length);
		block->interface_id = rd32(be, body);
		block->timestamp = ((guint64)rd32(be, body + 4) << 32) | rd32(be, body + 8);
		block->caplen = rd32(be, body + 12);
		block->origlen = rd32(be, body + 16);
		if (block->caplen > body_len - 20)
			return reader_fail(
				reader, error, PDS_PCAPNG_ERROR_MALFORMED,
				"captured length %u is beyond the block (%" G_GSIZE_FORMAT
				" bytes of packet space)",
				block->caplen, body_len - 20);
		iface = pds_pcapng_reader_get_interface(reader, block->interface_id);
		if (iface == NULL)
			return reader_fail(
				reader, error, PDS_PCAPNG_ERROR_MALFORMED,
				"enhanced packet block names interface %u but the section "
				"has %u interfaces",
				block->interface_id, reader->interfaces->len);
		block->timestamp_ns = ticks_to_ns(block->timestamp, iface->ticks_per_second);
		block->packet = body + 20;
		if (pad4(block->caplen) <= body_len - 20) {
			block->options = body + 20 + pad4(block->caplen);
			block->options_len = body_len - 20 - pad4(block->caplen);
		} else {
			/* Unpadded packet data at the very end: tolerated, no options. */
			block->options = body + body_len;
			block->options_len = 0;
		}
		break;
	}
	case PDS_PCAPNG_BT_SPB: {
		const PdsPcapngInterface *iface;
		guint32 space;

		if (body_len < 4)
			return reader_fail(reader, error, PDS_PCAPNG_ERROR_MALFORMED,
					   "simple packet block of %u bytes is too short",
					   block->length);
		iface = pds_pcapng_reader_get_interface(reader, 0);
		if (iface == NULL)
			return reader_fail(reader, error, PDS_PCAPNG_ERROR_MALFORMED,
					   "simple packet block in a section without interfaces");
		block->interface_id = 0;
		block->origlen = rd32(be, body);
		space = (guint32)(body_len - 4);
		block->caplen = MIN(block->origlen, space);
		if (iface->snaplen != 0)
			block->caplen = MIN(block->caplen, iface->snaplen);
		block->packet = body + 4;
		break;
	}
	case PDS_PCAPNG_BT_ISB: {
		const PdsPcapngInterface *iface;

		if (body_len < 12)
			return reader_fail(reader, error, PDS_PCAPNG_ERROR_MALFORMED,
					   "interface statistics block of %u bytes is too short",
					   block->length);
		block->interface_id = rd32(be, body);
		block->timestamp = ((guint64)rd32(be, body + 4) << 32) | rd32(be, body + 8);
		iface = pds_pcapng_reader_get_interface(reader, block->interface_id);
		if (iface == NULL)
			return reader_fail(reader, error, PDS_PCAPNG_ERROR_MALFORMED,
					   "interface statistics block names interface %u but the "
					   "section has %u interfaces",
					   block->interface_id, reader->interfaces->len);
		block->timestamp_ns = ticks_to_ns(block->timestamp, iface->ticks_per_second);
		block->options = body + 12;
		block->options_len = body_len - 12;
		break;
	}
	case PDS_PCAPNG_BT_NRB: {
		gsize pos = 0;

		while (TRUE) {
			guint16 rtype, rlen;

			if (body_len - pos < 4) {
				/* No end record: the records fill the block. */
				pos = body_len;
				break;
			}
			rtype = rd16(be, body + pos);
			rlen = rd16(be, body + pos + 2);
			if (rtype == PDS_PCAPNG_NRB_END) {
				pos += 4;
				break;
			}
			if (pad4(rlen) > body_len - pos - 4)
				return reader_fail(
					reader, error, PDS_PCAPNG_ERROR_MALFORMED,
					"name resolution record at block offset %" G_GSIZE_FORMAT
					" runs past the end of the block",
					pos + 8);
			pos += 4 + pad4(rlen);
		}
		block->nrb_records = body;
		block->nrb_records_len = pos;
		block->options = body + pos;
		block->options_len = body_len - pos;
		break;
	}
	case PDS_PCAPNG_BT_CUSTOM:
	case PDS_PCAPNG_BT_CUSTOM_NOCOPY:
		if (body_len < 4)
			return reader_fail(reader, error, PDS_PCAPNG_ERROR_MALFORMED,
					   "custom block of %u bytes has no room for its PEN",
					   block->length);
		block->pen = rd32(be, body);
		block->custom_data = body + 4;
		block->custom_len = body_len - 4;
		break;
	default:
		/* Unknown to us: the caller sees the type and skips it. */
		break;
	}

	if (block->options_len > 0 && !options_check(be, block->options, block->options_len, &why))
		return reader_fail(reader, error, PDS_PCAPNG_ERROR_MALFORMED, "%s", why);
	return TRUE;
}

gboolean
pds_pcapng_reader_next(PdsPcapngReader *reader, PdsPcapngBlock *block, GError **error)
{
	const guint8 *p;
	gsize avail;
	guint32 type, total, trailer;
	gboolean be;

	g_return_val_if_fail(reader != NULL, FALSE);
	g_return_val_if_fail(block != NULL, FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	if (reader->failure != NULL) {
		if (error != NULL)
			*error = g_error_copy(reader->failure);
		return FALSE;
	}

	if (reader->pos == reader->len && reader->next_data != NULL) {
		/* the owned block is read: go on in the borrowed input */
		reader->borrowed = TRUE;
		reader->data = reader->next_data;
		reader->len = reader->next_len;
		reader->pos = 0;
		reader->next_data = NULL;
		reader->next_len = 0;
	}
	p = reader->data + reader->pos;
	avail = reader->len - reader->pos;
	if (avail < 8)
		return FALSE;

	/* The block type is byte-order neutral only for the SHB; others use the section's. */
	type = rd32(reader->big_endian, p);
	be = reader->big_endian;
	if (rd32(FALSE, p) == PDS_PCAPNG_BT_SHB) {
		if (avail < 12)
			return FALSE;
		type = PDS_PCAPNG_BT_SHB;
		if (!shb_byte_order(p, &be))
			return reader_fail(reader, error, PDS_PCAPNG_ERROR_MALFORMED,
					   "section header has byte-order magic 0x%08x, not 0x%08x",
					   rd32(FALSE, p + 8), PDS_PCAPNG_BYTE_ORDER_MAGIC);
	} else if (!reader->in_section) {
		return reader_fail(reader, error, PDS_PCAPNG_ERROR_NO_SECTION,
				   "block type 0x%08x comes before any section header block; "
				   "this is not a pcapng stream",
				   rd32(FALSE, p));
	}

	total = rd32(be, p + 4);
	if (total % 4 != 0)
		return reader_fail(reader, error, PDS_PCAPNG_ERROR_MALFORMED,
				   "total length %u is not a multiple of 4", total);
	if (total < (type == PDS_PCAPNG_BT_SHB ? 28u : 12u))
		return reader_fail(reader, error, PDS_PCAPNG_ERROR_MALFORMED,
				   "total length %u is too small for block type 0x%08x", total,
				   type);
	if (total > PDS_PCAPNG_MAX_BLOCK)
		return reader_fail(reader, error, PDS_PCAPNG_ERROR_MALFORMED,
				   "total length %u is larger than the limit of %u bytes", total,
				   PDS_PCAPNG_MAX_BLOCK);
	if (avail < total)
		return FALSE;

	trailer = rd32(be, p + total - 4);
	if (trailer != total)
		return reader_fail(reader, error, PDS_PCAPNG_ERROR_MALFORMED,
				   "trailing length %u does not match the leading length %u",
				   trailer, total);

	memset(block, 0, sizeof(*block));
	block->type = type;
	block->offset = reader->offset;
	block->length = total;
	block->big_endian = be;
	block->raw = p;
	block->body = p + 8;
	block->body_len = total - 12;

	if (type == PDS_PCAPNG_BT_SHB) {
		/* A new section forgets the interfaces of the last one. */
		if (reader->in_section)
			reader->section++;
		reader->in_section = TRUE;
		reader->big_endian = be;
		g_array_set_size(reader->interfaces, 0);
	}
	block->section = reader->section;

	if (!parse_body(reader, block, error))
		return FALSE;

	reader->pos += total;
	reader->offset += total;
	return TRUE;
}

gboolean
pds_pcapng_reader_finish(PdsPcapngReader *reader, GError **error)
{
	gsize avail;

	g_return_val_if_fail(reader != NULL, FALSE);

	if (reader->failure != NULL) {
		if (error != NULL)
			*error = g_error_copy(reader->failure);
		return FALSE;
	}
	reader_own_input(reader);
	avail = reader->len - reader->pos;
	if (avail == 0)
		return TRUE;
	if (avail < 8) {
		g_set_error(error, PDS_PCAPNG_ERROR, PDS_PCAPNG_ERROR_TRUNCATED,
			    "block at offset %" G_GUINT64_FORMAT
			    ": input ends after %" G_GSIZE_FORMAT
			    " bytes of the 8-byte block header (%" G_GSIZE_FORMAT " bytes missing)",
			    reader->offset, avail, 8 - avail);
		return FALSE;
	} else {
		const guint8 *p = reader->data + reader->pos;
		gboolean be = reader->big_endian;
		guint32 total;

		if (rd32(FALSE, p) == PDS_PCAPNG_BT_SHB) {
			if (avail < 12) {
				g_set_error(error, PDS_PCAPNG_ERROR, PDS_PCAPNG_ERROR_TRUNCATED,
					    "block at offset %" G_GUINT64_FORMAT
					    ": input ends inside the section header before its "
					    "byte-order magic (%" G_GSIZE_FORMAT " bytes missing)",
					    reader->offset, 12 - avail);
				return FALSE;
			}
			be = rd32(FALSE, p + 8) != PDS_PCAPNG_BYTE_ORDER_MAGIC;
		}
		total = rd32(be, p + 4);
		if (total > avail) {
			g_set_error(
				error, PDS_PCAPNG_ERROR, PDS_PCAPNG_ERROR_TRUNCATED,
				"block at offset %" G_GUINT64_FORMAT
				": input ends %u bytes into a block of %u bytes (%" G_GSIZE_FORMAT
				" bytes missing)",
				reader->offset, (guint)avail, total, (gsize)total - avail);
			return FALSE;
		}
	}
	/* Whole blocks are left that the caller chose not to read: not a truncation. */
	return TRUE;
}

guint64
pds_pcapng_reader_get_offset(const PdsPcapngReader *reader)
{
	g_return_val_if_fail(reader != NULL, 0);
	return reader->offset;
}

const PdsPcapngInterface *
pds_pcapng_reader_get_interface(const PdsPcapngReader *reader, guint32 interface_id)
{
	g_return_val_if_fail(reader != NULL, NULL);
	if (interface_id >= reader->interfaces->len)
		return NULL;
	return &g_array_index(reader->interfaces, PdsPcapngInterface, interface_id);
}

guint
pds_pcapng_reader_get_n_interfaces(const PdsPcapngReader *reader)
{
	g_return_val_if_fail(reader != NULL, 0);
	return reader->interfaces->len;
}

gboolean
pds_pcapng_read_file(const char *path, PdsPcapngBlockFunc func, gpointer user_data, GError **error)
{
	g_autoptr(GMappedFile) mapped = NULL;
	g_autoptr(PdsPcapngReader) reader = NULL;
	g_autoptr(GError) error_local = NULL;
	PdsPcapngBlock block;

	g_return_val_if_fail(path != NULL, FALSE);
	g_return_val_if_fail(func != NULL, FALSE);

	mapped = g_mapped_file_new(path, FALSE, &error_local);
	if (mapped == NULL) {
		g_set_error(error, G_FILE_ERROR, error_local->code,
			    "cannot read pcapng file %s: %s", path, error_local->message);
		return FALSE;
	}
	reader = pds_pcapng_reader_new();
	/* The mapping outlives the reader: parse it in place, no copy. */
	pds_pcapng_reader_feed_borrowed(reader, (const guint8 *)g_mapped_file_get_contents(mapped),
					g_mapped_file_get_length(mapped));
	while (pds_pcapng_reader_next(reader, &block, &error_local)) {
		if (!func(reader, &block, user_data, error))
			return FALSE;
	}
	if (error_local == NULL)
		pds_pcapng_reader_finish(reader, &error_local);
	if (error_local != NULL) {
		g_propagate_prefixed_error(error, g_steal_pointer(&error_local), "%s: ", path);
		return FALSE;
	}
	return TRUE;
}

void
pds_pcapng_option_iter_init(PdsPcapngOptionIter *iter, const PdsPcapngBlock *block)
{
	g_return_if_fail(iter != NULL);
	g_return_if_fail(block != NULL);

	iter->p = block->options;
	iter->end = block->options != NULL ? block->options + block->options_len : NULL;
	iter->big_endian = block->big_endian;
}

gboolean
pds_pcapng_option_iter_next(PdsPcapngOptionIter *iter,
			    guint16 *code,
			    const guint8 **value,
			    guint16 *len)
{
	guint16 c, l;

	g_return_val_if_fail(iter != NULL, FALSE);

	if (iter->p == NULL || iter->end - iter->p < 4)
		return FALSE;
	c = rd16(iter->big_endian, iter->p);
	l = rd16(iter->big_endian, iter->p + 2);
	if (c == PDS_PCAPNG_OPT_ENDOFOPT || pad4(l) > (gsize)(iter->end - iter->p - 4)) {
		iter->p = iter->end;
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

gchar *
pds_pcapng_block_dup_option_string(const PdsPcapngBlock *block, guint16 code)
{
	PdsPcapngOptionIter iter;
	guint16 c, len;
	const guint8 *value;

	g_return_val_if_fail(block != NULL, NULL);

	pds_pcapng_option_iter_init(&iter, block);
	while (pds_pcapng_option_iter_next(&iter, &c, &value, &len)) {
		if (c == code)
			return g_strndup((const gchar *)value, len);
	}
	return NULL;
}

gboolean
pds_pcapng_block_get_option_u64(const PdsPcapngBlock *block, guint16 code, guint64 *value)
{
	PdsPcapngOptionIter iter;
	guint16 c, len;
	const guint8 *v;

	g_return_val_if_fail(block != NULL, FALSE);

	pds_pcapng_option_iter_init(&iter, block);
	while (pds_pcapng_option_iter_next(&iter, &c, &v, &len)) {
		guint64 out;

		if (c != code)
			continue;
		switch (len) {
		case 1:
			out = v[0];
			break;
		case 2:
			out = rd16(block->big_endian, v);
			break;
		case 4:
			out = rd32(block->big_endian, v);
			break;
		case 8:
			out = rd64(block->big_endian, v);
			break;
		default:
			return FALSE;
		}
		if (value != NULL)
			*value = out;
		return TRUE;
	}
	return FALSE;
}

gchar *
pds_pcapng_block_dup_custom_kv(const PdsPcapngBlock *block, const char *key)
{
	PdsPcapngOptionIter iter;
	guint16 c, len;
	const guint8 *v;
	gsize klen;

	g_return_val_if_fail(block != NULL, NULL);
	g_return_val_if_fail(key != NULL, NULL);

	klen = strlen(key);
	pds_pcapng_option_iter_init(&iter, block);
	while (pds_pcapng_option_iter_next(&iter, &c, &v, &len)) {
		if (c != PDS_PCAPNG_OPT_CUSTOM_STR || len < 4 + klen + 1)
			continue;
		if (rd32(block->big_endian, v) != PDS_PEN)
			continue;
		if (memcmp(v + 4, key, klen) != 0 || v[4 + klen] != '=')
			continue;
		return g_strndup((const gchar *)v + 4 + klen + 1, len - 4 - klen - 1);
	}
	return NULL;
}

guint16
pds_pcapng_block_read_u16(const PdsPcapngBlock *block, const guint8 *p)
{
	g_return_val_if_fail(block != NULL && p != NULL, 0);
	return rd16(block->big_endian, p);
}

guint32
pds_pcapng_block_read_u32(const PdsPcapngBlock *block, const guint8 *p)
{
	g_return_val_if_fail(block != NULL && p != NULL, 0);
	return rd32(block->big_endian, p);
}

guint64
pds_pcapng_block_read_u64(const PdsPcapngBlock *block, const guint8 *p)
{
	g_return_val_if_fail(block != NULL && p != NULL, 0);
	return rd64(block->big_endian, p);
}

/* ---- Re-encoding ---- */

static inline void
out_u16(GByteArray *out, guint16 v)
{
	v = GUINT16_TO_LE(v);
	g_byte_array_append(out, (const guint8 *)&v, 2);
}

static inline void
out_u32(GByteArray *out, guint32 v)
{
	v = GUINT32_TO_LE(v);
	g_byte_array_append(out, (const guint8 *)&v, 4);
}

static void
out_padded(GByteArray *out, const guint8 *data, gsize len)
{
	static const guint8 zeros[4] = {0};

	if (len > 0)
		g_byte_array_append(out, data, (guint)len);
	if (pad4(len) != len)
		g_byte_array_append(out, zeros, (guint)(pad4(len) - len));
}

typedef enum {
	OPT_BYTES,
	OPT_U32,
	OPT_U64,
	OPT_TS, /* two u32: high, low */
	OPT_CUSTOM,
} OptKind;

/* How an option's value is laid out, so a big-endian one can be turned around. */
static OptKind
option_kind(guint32 block_type, guint16 code)
{
	switch (code) {
	case PDS_PCAPNG_OPT_CUSTOM_STR:
	case PDS_PCAPNG_OPT_CUSTOM_BIN:
	case 19372: /* custom, not to be copied */
	case 19373:
		return OPT_CUSTOM;
	default:
		break;
	}
	switch (block_type) {
	case PDS_PCAPNG_BT_IDB:
		if (code == 8 /* if_speed */ || code == 14 /* if_tsoffset */ ||
		    code == 17 /* if_txspeed */ || code == 18 /* if_rxspeed */)
			return OPT_U64;
		if (code == 10 /* if_tzone */)
			return OPT_U32;
		break;
	case PDS_PCAPNG_BT_EPB:
		if (code == PDS_PCAPNG_EPB_FLAGS || code == 6 /* epb_queue */)
			return OPT_U32;
		if (code == PDS_PCAPNG_EPB_DROPCOUNT || code == PDS_PCAPNG_EPB_PACKETID)
			return OPT_U64;
		break;
	case PDS_PCAPNG_BT_ISB:
		if (code == PDS_PCAPNG_ISB_STARTTIME || code == PDS_PCAPNG_ISB_ENDTIME)
			return OPT_TS;
		if (code >= PDS_PCAPNG_ISB_IFRECV && code <= PDS_PCAPNG_ISB_USRDELIV)
			return OPT_U64;
		break;
	case PDS_PCAPNG_BT_SHB:
	case PDS_PCAPNG_BT_NRB:
	default:
		break;
	}
	return OPT_BYTES;
}

static gboolean
rewrite_options(const PdsPcapngBlock *block,
		guint32 out_type,
		const guint8 *opts,
		gsize opts_len,
		GByteArray *out,
		GError **error)
{
	const guint8 *p = opts;
	const guint8 *end = opts + opts_len;
	gboolean be = block->big_endian;
	gboolean any = FALSE;

	while (end - p >= 4) {
		guint16 code = rd16(be, p);
		guint16 len = rd16(be, p + 2);
		const guint8 *v = p + 4;
		guint old_len;
		guint8 *dst;

		if (code == PDS_PCAPNG_OPT_ENDOFOPT)
			break;
		if (pad4(len) > (gsize)(end - v)) {
			g_set_error(error, PDS_PCAPNG_ERROR, PDS_PCAPNG_ERROR_MALFORMED,
				    "block at offset %" G_GUINT64_FORMAT
				    ": option %u runs past the end of the block",
				    block->offset, code);
			return FALSE;
		}
		out_u16(out, code);
		out_u16(out, len);
		old_len = out->len;
		out_padded(out, v, len);
		dst = out->data + old_len;
		if (be) {
			switch (option_kind(out_type, code)) {
			case OPT_U32:
				if (len == 4) {
					guint32 x = GUINT32_TO_LE(rd32(TRUE, v));
					memcpy(dst, &x, 4);
				}
				break;
			case OPT_U64:
				if (len == 8) {
					guint64 x = GUINT64_TO_LE(rd64(TRUE, v));
					memcpy(dst, &x, 8);
				}
				break;
			case OPT_TS:
				if (len == 8) {
					guint32 hi = GUINT32_TO_LE(rd32(TRUE, v));
					guint32 lo = GUINT32_TO_LE(rd32(TRUE, v + 4));
					memcpy(dst, &hi, 4);
					memcpy(dst + 4, &lo, 4);
				}
				break;
			case OPT_CUSTOM:
				if (len >= 4) {
					guint32 x = GUINT32_TO_LE(rd32(TRUE, v));
					memcpy(dst, &x, 4);
				}
				break;
			case OPT_BYTES:
			default:
				break;
			}
		}
		any = TRUE;
		p += 4 + pad4(len);
	}
	if (any) {
		out_u16(out, PDS_PCAPNG_OPT_ENDOFOPT);
		out_u16(out, 0);
	}
	return TRUE;
}

/* Fixes the leading length and appends the trailing one of a block begun at @start. */
static void
rewrite_close(GByteArray *out, guint start)
{
	guint32 total = out->len - start + 4;
	guint32 le = GUINT32_TO_LE(total);

	memcpy(out->data + start + 4, &le, 4);
	out_u32(out, total);
}

gboolean
pds_pcapng_block_rewrite(const PdsPcapngBlock *block,
			 guint32 new_interface_id,
			 GByteArray *out,
			 GError **error)
{
	gboolean be;
	guint start;

	g_return_val_if_fail(block != NULL, FALSE);
	g_return_val_if_fail(out != NULL, FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	be = block->big_endian;

	/* Little-endian input is already in shape: copy, then patch the interface id. */
	if (!be && block->type != PDS_PCAPNG_BT_SPB) {
		start = out->len;
		g_byte_array_append(out, block->raw, block->length);
		if (block->type == PDS_PCAPNG_BT_EPB || block->type == PDS_PCAPNG_BT_ISB) {
			guint32 le = GUINT32_TO_LE(new_interface_id);
			memcpy(out->data + start + 8, &le, 4);
		}
		return TRUE;
	}

	start = out->len;
	switch (block->type) {
	case PDS_PCAPNG_BT_SHB:
		out_u32(out, PDS_PCAPNG_BT_SHB);
		out_u32(out, 0);
		out_u32(out, PDS_PCAPNG_BYTE_ORDER_MAGIC);
		out_u16(out, block->major);
		out_u16(out, block->minor);
		out_u32(out, G_MAXUINT32); /* section length unknown after re-encoding */
		out_u32(out, G_MAXUINT32);
		break;
	case PDS_PCAPNG_BT_IDB:
		out_u32(out, PDS_PCAPNG_BT_IDB);
		out_u32(out, 0);
		out_u16(out, block->linktype);
		out_u16(out, 0);
		out_u32(out, block->snaplen);
		break;
	case PDS_PCAPNG_BT_EPB:
	case PDS_PCAPNG_BT_SPB:
		out_u32(out, PDS_PCAPNG_BT_EPB);
		out_u32(out, 0);
		out_u32(out, new_interface_id);
		out_u32(out, (guint32)(block->timestamp >> 32));
		out_u32(out, (guint32)block->timestamp);
		out_u32(out, block->caplen);
		out_u32(out, block->origlen);
		out_padded(out, block->packet, block->caplen);
		break;
	case PDS_PCAPNG_BT_ISB:
		out_u32(out, PDS_PCAPNG_BT_ISB);
		out_u32(out, 0);
		out_u32(out, new_interface_id);
		out_u32(out, (guint32)(block->timestamp >> 32));
		out_u32(out, (guint32)block->timestamp);
		break;
	case PDS_PCAPNG_BT_NRB: {
		const guint8 *p = block->nrb_records;
		const guint8 *end = p + block->nrb_records_len;

		out_u32(out, PDS_PCAPNG_BT_NRB);
		out_u32(out, 0);
		/* Records hold addresses and names: only the record headers turn around. */
		while (end - p >= 4) {
			guint16 rtype = rd16(TRUE, p);
			guint16 rlen = rd16(TRUE, p + 2);

			if (rtype == PDS_PCAPNG_NRB_END)
				break;
			out_u16(out, rtype);
			out_u16(out, rlen);
			out_padded(out, p + 4, rlen);
			p += 4 + pad4(rlen);
		}
		/* Always ended, even when the input's records filled the block. */
		out_u16(out, PDS_PCAPNG_NRB_END);
		out_u16(out, 0);
		break;
	}
	case PDS_PCAPNG_BT_CUSTOM:
	case PDS_PCAPNG_BT_CUSTOM_NOCOPY:
		/* The custom data's layout is its owner's business: copied as it is. */
		out_u32(out, block->type);
		out_u32(out, 0);
		out_u32(out, block->pen);
		out_padded(out, block->custom_data, block->custom_len);
		rewrite_close(out, start);
		return TRUE;
	default:
		g_byte_array_set_size(out, start);
		g_set_error(error, PDS_PCAPNG_ERROR, PDS_PCAPNG_ERROR_UNSUPPORTED,
			    "block at offset %" G_GUINT64_FORMAT
			    ": block type 0x%08x of a big-endian section cannot be re-encoded; "
			    "skip it",
			    block->offset, block->type);
		return FALSE;
	}

	if (block->type != PDS_PCAPNG_BT_SPB && block->options_len > 0) {
		if (!rewrite_options(block, block->type, block->options, block->options_len, out,
				     error)) {
			g_byte_array_set_size(out, start);
			return FALSE;
		}
	}
	rewrite_close(out, start);
	return TRUE;
}
