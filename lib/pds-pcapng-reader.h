/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Streaming pcapng reader. Feed it bytes as they arrive (any split), take out
 * complete blocks. Both byte orders, many sections; unknown block types are
 * returned with their type so callers may skip them. A malformed block is a
 * GError (PDS_PCAPNG_ERROR) naming the stream offset and what is wrong.
 */
#pragma once

#include <glib.h>

#include "pds-pcapng.h"

G_BEGIN_DECLS

#define PDS_PCAPNG_ERROR (pds_pcapng_error_quark())
GQuark pds_pcapng_error_quark(void);

typedef enum {
	PDS_PCAPNG_ERROR_MALFORMED,   /* a block that breaks the format */
	PDS_PCAPNG_ERROR_TRUNCATED,   /* the input ended inside a block */
	PDS_PCAPNG_ERROR_NO_SECTION,  /* a block before any Section Header Block */
	PDS_PCAPNG_ERROR_UNSUPPORTED, /* e.g. a section of major version != 1 */
} PdsPcapngError;

/* What the reader learnt of one interface of the current section. */
typedef struct {
	guint16 linktype;
	guint32 snaplen;
	guint64 ticks_per_second; /* from if_tsresol; 1000000 when absent */
	gchar *name;		  /* if_name or NULL */
	gchar *description;	  /* if_description or NULL */
} PdsPcapngInterface;

/*
 * One block. Pointers point into the reader's buffer and stay valid until the
 * next call of pds_pcapng_reader_feed() or pds_pcapng_reader_next().
 * Numeric fields are converted to host order; raw/body/options are as read.
 */
typedef struct {
	guint32 type;
	guint64 offset;	     /* offset of the block's first byte in the stream */
	guint32 length;	     /* total block length */
	guint section;	     /* 0-based index of the section */
	gboolean big_endian; /* byte order of the section */
	const guint8 *raw;   /* whole block */
	const guint8 *body;  /* after type+length, before the trailing length */
	gsize body_len;

	/* EPB, SPB (interface 0), ISB */
	guint32 interface_id;
	guint64 timestamp;    /* in interface units (EPB, ISB) */
	guint64 timestamp_ns; /* converted with the interface's if_tsresol */
	/* EPB, SPB */
	guint32 caplen;
	guint32 origlen;
	const guint8 *packet;
	/* IDB */
	guint16 linktype;
	guint32 snaplen;
	/* SHB */
	guint16 major;
	guint16 minor;
	/* Custom blocks: PEN and what follows it (our records are self-delimiting) */
	guint32 pen;
	const guint8 *custom_data;
	gsize custom_len;
	/* NRB: the records, then options */
	const guint8 *nrb_records;
	gsize nrb_records_len;
	/* SHB, IDB, EPB, ISB, NRB: options area (may be empty) */
	const guint8 *options;
	gsize options_len;
} PdsPcapngBlock;

typedef struct _PdsPcapngReader PdsPcapngReader;

PdsPcapngReader *pds_pcapng_reader_new(void);
void pds_pcapng_reader_free(PdsPcapngReader *reader);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PdsPcapngReader, pds_pcapng_reader_free)

void pds_pcapng_reader_feed(PdsPcapngReader *reader, const guint8 *data, gsize len);
/*
 * The same without copying @data when nothing is pending: blocks then point
 * into @data, which the caller keeps unchanged until
 * pds_pcapng_reader_release_input(); that copies what is left (the start of
 * a block still incomplete) into the reader, so @data may be reused.
 */
void pds_pcapng_reader_feed_borrowed(PdsPcapngReader *reader, const guint8 *data, gsize len);
void pds_pcapng_reader_release_input(PdsPcapngReader *reader);
/* Input bytes the reader copied into its own buffer so far. */
guint64 pds_pcapng_reader_get_copied_bytes(PdsPcapngReader *reader);
/*
 * TRUE and @block filled: one complete block.
 * FALSE, error unset: need more input.  FALSE, error set: malformed input;
 * the reader is then unusable (a stream cannot be resynchronised safely).
 */
gboolean pds_pcapng_reader_next(PdsPcapngReader *reader, PdsPcapngBlock *block, GError **error);
/* At end of input: FALSE with PDS_PCAPNG_ERROR_TRUNCATED if a partial block is left. */
gboolean pds_pcapng_reader_finish(PdsPcapngReader *reader, GError **error);
/* Bytes consumed so far (offset of the next block). */
guint64 pds_pcapng_reader_get_offset(const PdsPcapngReader *reader);
/* Interfaces of the current section; NULL when the id is unknown. */
const PdsPcapngInterface *pds_pcapng_reader_get_interface(const PdsPcapngReader *reader,
							  guint32 interface_id);
guint pds_pcapng_reader_get_n_interfaces(const PdsPcapngReader *reader);

/* Read a whole file (convenience for tools and tests); calls @func per block. */
typedef gboolean (*PdsPcapngBlockFunc)(PdsPcapngReader *reader,
				       const PdsPcapngBlock *block,
				       gpointer user_data,
				       GError **error);
gboolean
pds_pcapng_read_file(const char *path, PdsPcapngBlockFunc func, gpointer user_data, GError **error);

/* Options, in the byte order of the block's section. */
typedef struct {
	const guint8 *p;
	const guint8 *end;
	gboolean big_endian;
} PdsPcapngOptionIter;

void pds_pcapng_option_iter_init(PdsPcapngOptionIter *iter, const PdsPcapngBlock *block);
/* FALSE at opt_endofopt or at the end of the area. Malformed options end the walk. */
gboolean pds_pcapng_option_iter_next(PdsPcapngOptionIter *iter,
				     guint16 *code,
				     const guint8 **value,
				     guint16 *len);
/* First option @code as a new string / number; NULL or FALSE when absent. */
gchar *pds_pcapng_block_dup_option_string(const PdsPcapngBlock *block, guint16 code);
gboolean pds_pcapng_block_get_option_u64(const PdsPcapngBlock *block, guint16 code, guint64 *value);
/* Value of a custom "key=value" option (PDS_PEN) or NULL. */
gchar *pds_pcapng_block_dup_custom_kv(const PdsPcapngBlock *block, const char *key);

guint16 pds_pcapng_block_read_u16(const PdsPcapngBlock *block, const guint8 *p);
guint32 pds_pcapng_block_read_u32(const PdsPcapngBlock *block, const guint8 *p);
guint64 pds_pcapng_block_read_u64(const PdsPcapngBlock *block, const guint8 *p);

/*
 * Re-encode a block little-endian with its interface id replaced (EPB, SPB
 * becomes EPB, ISB); IDB, NRB and custom blocks are re-encoded as they are.
 * Known numeric options are byte-swapped. The hub uses this to merge sources.
 */
gboolean pds_pcapng_block_rewrite(const PdsPcapngBlock *block,
				  guint32 new_interface_id,
				  GByteArray *out,
				  GError **error);

G_END_DECLS
