/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pds-analyze-replicate IN.pcapng OUT.pcapng SIZE
 *
 * Makes a large capture from a small real one for the analyzer benchmark:
 * the packets of IN are written again and again until OUT holds SIZE bytes,
 * each copy shifted in time after the previous one and with its IP
 * addresses changed (the same way in both directions), so every copy's
 * connections are new connections with the same content. IP checksums are
 * not recomputed (neither tshark nor the analyzer checks them).
 */
#include "config.h"

#define G_LOG_DOMAIN "PdsTest"

#include <errno.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>

#include "pds-pcapng-reader.h"
#include "pds-pcapng-writer.h"

typedef struct {
	guint32 iface;
	guint64 ts;
	guint32 origlen;
	GBytes *data;
} Packet;

typedef struct {
	GArray *ifaces;	 /* of guint16 linktype, by interface id */
	GArray *packets; /* of Packet */
} Seed;

static gboolean
on_block(PdsPcapngReader *reader, const PdsPcapngBlock *block, gpointer user_data, GError **error)
{
	Seed *seed = user_data;

	if (block->section > 0) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
			    "the seed capture must have one section");
		return FALSE;
	}
	if (block->type == PDS_PCAPNG_BT_IDB) {
		guint16 lt = block->linktype;
		g_array_append_val(seed->ifaces, lt);
	} else if (block->type == PDS_PCAPNG_BT_EPB) {
		Packet p = {block->interface_id, block->timestamp_ns, block->origlen,
			    g_bytes_new(block->packet, block->caplen)};
		g_array_append_val(seed->packets, p);
	}
	return TRUE;
}

/* Offset of the IP header in a frame, or -1. */
static gssize
ip_offset(guint16 linktype, const guint8 *p, gsize len)
{
	gsize off;
	guint16 type;

	switch (linktype) {
	case 1:
		off = 12;
		for (;;) {
			if (len < off + 2)
				return -1;
			type = (p[off] << 8) | p[off + 1];
			off += 2;
			if (type != 0x8100 && type != 0x88a8)
				break;
			off += 2;
		}
		return type == 0x0800 || type == 0x86dd ? (gssize)off : -1;
	case 101:
		return 0;
	case 113:
		return 16;
	case 276:
		return 20;
	default:
		return -1;
	}
}

static void
shift_addresses(guint8 *ip, gsize len, guint copy)
{
	guint8 hi = copy >> 8, lo = copy & 0xff;

	if (len >= 20 && (ip[0] >> 4) == 4) {
		ip[13] ^= hi;
		ip[14] ^= lo;
		ip[17] ^= hi;
		ip[18] ^= lo;
	} else if (len >= 40 && (ip[0] >> 4) == 6) {
		ip[10] ^= hi;
		ip[11] ^= lo;
		ip[26] ^= hi;
		ip[27] ^= lo;
	}
}

int
main(int argc, char **argv)
{
	Seed seed;
	g_autoptr(GError) error = NULL;
	g_autoptr(GByteArray) out = g_byte_array_sized_new(8 * 1024 * 1024);
	g_autoptr(PdsPcapngOptions) idb_opts = pds_pcapng_options_new();
	FILE *fp;
	guint64 target, written = 0, span, first, last;
	guint copies = 0;

	if (argc != 4) {
		g_printerr("usage: %s IN.pcapng OUT.pcapng SIZE\n", argv[0]);
		return 2;
	}
	target = g_ascii_strtoull(argv[3], NULL, 10);
	seed.ifaces = g_array_new(FALSE, FALSE, sizeof(guint16));
	seed.packets = g_array_new(FALSE, FALSE, sizeof(Packet));
	if (!pds_pcapng_read_file(argv[1], on_block, &seed, &error)) {
		g_printerr("%s: %s\n", argv[0], error->message);
		return 1;
	}
	if (seed.packets->len == 0) {
		g_printerr("%s: %s has no packets\n", argv[0], argv[1]);
		return 1;
	}
	first = g_array_index(seed.packets, Packet, 0).ts;
	last = g_array_index(seed.packets, Packet, seed.packets->len - 1).ts;
	span = last - first + 1000000;

	fp = g_fopen(argv[2], "wb");
	if (fp == NULL) {
		g_printerr("%s: cannot create %s: %s\n", argv[0], argv[2], g_strerror(errno));
		return 1;
	}
	pds_pcapng_write_shb(out, NULL);
	pds_pcapng_options_add_u8(idb_opts, PDS_PCAPNG_IF_TSRESOL, 9);
	for (guint i = 0; i < seed.ifaces->len; i++)
		pds_pcapng_write_idb(out, g_array_index(seed.ifaces, guint16, i), 262144, idb_opts);

	while (written + out->len < target && copies < 65535) {
		for (guint i = 0; i < seed.packets->len; i++) {
			Packet *p = &g_array_index(seed.packets, Packet, i);
			gsize len;
			const guint8 *data = g_bytes_get_data(p->data, &len);
			guint8 frame[65536 + 64];
			gssize off =
				ip_offset(g_array_index(seed.ifaces, guint16, p->iface), data, len);

			if (len > sizeof(frame))
				continue;
			memcpy(frame, data, len);
			if (off >= 0)
				shift_addresses(frame + off, len - off, copies);
			pds_pcapng_write_epb(out, p->iface, p->ts + copies * span, frame, len,
					     p->origlen, NULL);
			if (out->len >= 4 * 1024 * 1024) {
				if (fwrite(out->data, 1, out->len, fp) != out->len) {
					g_printerr("%s: cannot write %s: %s\n", argv[0], argv[2],
						   g_strerror(errno));
					return 1;
				}
				written += out->len;
				g_byte_array_set_size(out, 0);
			}
		}
		copies++;
	}
	if (fwrite(out->data, 1, out->len, fp) != out->len || fclose(fp) != 0) {
		g_printerr("%s: cannot write %s: %s\n", argv[0], argv[2], g_strerror(errno));
		return 1;
	}
	written += out->len;
	g_print("%u copies of %u packets, %" G_GUINT64_FORMAT " bytes\n", copies, seed.packets->len,
		written);
	return 0;
}
