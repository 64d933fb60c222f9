/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Text checks on the analyzer's hot path: header bytes are looked at once per
 * message by the parser and once more when they go into a record, so they
 * are tested eight bytes at a time.
 */
#pragma once

#include <glib.h>
#include <string.h>

G_BEGIN_DECLS

#define PDS_TEXT_ONES  G_GUINT64_CONSTANT(0x0101010101010101)
#define PDS_TEXT_HIGHS G_GUINT64_CONSTANT(0x8080808080808080)

/*
 * How many leading bytes of @p, in steps of eight, are all printable ASCII
 * (0x20..0x7e). The rest (fewer than eight bytes, or a word holding a tab, a
 * control character, DEL or a byte above 0x7f) is for the caller's byte loop.
 */
static inline gsize
pds_text_printable_prefix(const guint8 *p, gsize len)
{
	gsize i = 0;

	for (; i + 8 <= len; i += 8) {
		guint64 w, below_space, del;

		memcpy(&w, p + i, 8);
		/* a byte below 0x20 borrows into its top bit; so does a zero after w ^ 0x7f */
		below_space = (w - 0x20 * PDS_TEXT_ONES) & ~w;
		del = (w ^ (0x7f * PDS_TEXT_ONES)) - PDS_TEXT_ONES;
		del &= ~(w ^ (0x7f * PDS_TEXT_ONES));
		if ((w | below_space | del) & PDS_TEXT_HIGHS)
			break;
	}
	return i;
}

G_END_DECLS
