/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pcapng writer: every function appends one complete, padded, little-endian
 * block to a GByteArray, so callers batch blocks and write them with one
 * syscall, and a buffer never holds half a block.
 */
#pragma once

#include <glib.h>

#include "pds-pcapng.h"

G_BEGIN_DECLS

/* An option list under construction (opt_endofopt is added by the writer). */
typedef struct _PdsPcapngOptions PdsPcapngOptions;

PdsPcapngOptions *pds_pcapng_options_new(void);
void pds_pcapng_options_free(PdsPcapngOptions *opts);
void pds_pcapng_options_add(PdsPcapngOptions *opts, guint16 code, const void *value, guint16 len);
void pds_pcapng_options_add_string(PdsPcapngOptions *opts, guint16 code, const char *value);
void pds_pcapng_options_add_u8(PdsPcapngOptions *opts, guint16 code, guint8 value);
void pds_pcapng_options_add_u32(PdsPcapngOptions *opts, guint16 code, guint32 value);
void pds_pcapng_options_add_u64(PdsPcapngOptions *opts, guint16 code, guint64 value);
/* Custom string option (code 2988) carrying PDS_PEN then "key=value". */
void pds_pcapng_options_add_custom_kv(PdsPcapngOptions *opts, const char *key, const char *value);
gboolean pds_pcapng_options_is_empty(const PdsPcapngOptions *opts);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(PdsPcapngOptions, pds_pcapng_options_free)

/* opts may be NULL in every call below. */
void pds_pcapng_write_shb(GByteArray *out, const PdsPcapngOptions *opts);
void pds_pcapng_write_idb(GByteArray *out,
			  guint16 linktype,
			  guint32 snaplen,
			  const PdsPcapngOptions *opts);
/* timestamp is in the interface's units (nanoseconds for if_tsresol 9). */
void pds_pcapng_write_epb(GByteArray *out,
			  guint32 interface_id,
			  guint64 timestamp,
			  const guint8 *data,
			  guint32 caplen,
			  guint32 origlen,
			  const PdsPcapngOptions *opts);
void pds_pcapng_write_isb(GByteArray *out,
			  guint32 interface_id,
			  guint64 timestamp,
			  const PdsPcapngOptions *opts);
void pds_pcapng_write_custom(
	GByteArray *out, guint32 pen, const guint8 *data, gsize len, gboolean copyable);

/* Name Resolution Block: collect entries, then write them as one block. */
typedef struct _PdsPcapngNrb PdsPcapngNrb;
PdsPcapngNrb *pds_pcapng_nrb_new(void);
void pds_pcapng_nrb_free(PdsPcapngNrb *nrb);
void pds_pcapng_nrb_add_ipv4(PdsPcapngNrb *nrb, const guint8 addr[4], const char *name);
void pds_pcapng_nrb_add_ipv6(PdsPcapngNrb *nrb, const guint8 addr[16], const char *name);
guint pds_pcapng_nrb_get_count(const PdsPcapngNrb *nrb);
void pds_pcapng_write_nrb(GByteArray *out, const PdsPcapngNrb *nrb);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PdsPcapngNrb, pds_pcapng_nrb_free)

G_END_DECLS
