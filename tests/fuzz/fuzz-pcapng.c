/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target: the streaming pcapng reader, differential. The first
 * four input bytes seed the lengths of the pieces; the rest is the stream.
 * It is read once whole (copied in) and once in borrowed pieces, each piece
 * overwritten after pds_pcapng_reader_release_input() as a reused socket
 * buffer would be: both readings must give the same blocks, byte for byte,
 * and end the same way (both clean, or both failing at the same offset).
 */
#include "config.h"

#include <glib.h>
#include <stdint.h>
#include <string.h>

#include "pds-pcapng-reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct {
	GChecksum *sum; /* over every block's offset, type and bytes */
	guint64 blocks;
	guint64 end_offset;
	gboolean failed;
} Reading;

static void
reading_add(Reading *r, const PdsPcapngBlock *block)
{
	g_checksum_update(r->sum, (const guchar *)&block->offset, sizeof(block->offset));
	g_checksum_update(r->sum, (const guchar *)&block->type, sizeof(block->type));
	g_checksum_update(r->sum, block->raw, block->length);
	r->blocks++;
}

static void
reading_drain(PdsPcapngReader *reader, Reading *r)
{
	PdsPcapngBlock block;
	g_autoptr(GError) error = NULL;

	while (!r->failed && pds_pcapng_reader_next(reader, &block, &error))
		reading_add(r, &block);
	if (error != NULL)
		r->failed = TRUE;
}

static void
reading_end(PdsPcapngReader *reader, Reading *r)
{
	g_autoptr(GError) error = NULL;

	if (!r->failed && !pds_pcapng_reader_finish(reader, &error))
		r->failed = TRUE;
	r->end_offset = pds_pcapng_reader_get_offset(reader);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Reading whole = {g_checksum_new(G_CHECKSUM_SHA256), 0, 0, FALSE};
	Reading pieces = {g_checksum_new(G_CHECKSUM_SHA256), 0, 0, FALSE};
	g_autoptr(PdsPcapngReader) a = pds_pcapng_reader_new();
	g_autoptr(PdsPcapngReader) b = pds_pcapng_reader_new();
	guint32 seed;
	GRand *rand;
	gsize pos = 0;

	if (size < 4)
		return 0;
	memcpy(&seed, data, 4);
	data += 4;
	size -= 4;
	rand = g_rand_new_with_seed(seed);

	pds_pcapng_reader_feed(a, data, size);
	reading_drain(a, &whole);
	reading_end(a, &whole);

	while (pos < size && !pieces.failed) {
		/* small pieces and large ones, so blocks straddle both */
		gsize n = (gsize)(g_rand_boolean(rand) ? g_rand_int_range(rand, 1, 64)
						       : g_rand_int_range(rand, 1, 4096));
		guint8 *scratch;

		n = MIN(n, size - pos);
		scratch = g_malloc(n);

		memcpy(scratch, data + pos, n);
		pds_pcapng_reader_feed_borrowed(b, scratch, n);
		reading_drain(b, &pieces);
		pds_pcapng_reader_release_input(b);
		memset(scratch, 0xa5, n);
		g_free(scratch);
		pos += n;
	}
	reading_end(b, &pieces);

	if (whole.failed != pieces.failed || whole.blocks != pieces.blocks ||
	    (!whole.failed && whole.end_offset != pieces.end_offset) ||
	    strcmp(g_checksum_get_string(whole.sum), g_checksum_get_string(pieces.sum)) != 0)
		__builtin_trap();

	g_rand_free(rand);
	g_checksum_free(whole.sum);
	g_checksum_free(pieces.sum);
	return 0;
}
