/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * podscope analyze FILE [--json]: runs the agent's analyzer over a capture
 * file and prints one line per flow record. Reads pcapng (any number of
 * sections, either byte order) and, for convenience, classic pcap.
 */
#include "config.h"

#define G_LOG_DOMAIN "PdsCli"

#include <errno.h>
#include <gio/gio.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pds-analyzer.h"
#include "pds-cli-analyze.h"
#include "pds-cli.h"
#include "pds-flow-format.h"
#include "pds-pcapng-reader.h"

/* Bytes read from the file at a time. */
#define READ_PIECE (1024 * 1024)

typedef FILE PdsCliFile;

static void
pds_cli_file_close(PdsCliFile *fp)
{
	if (fp != NULL)
		fclose(fp);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PdsCliFile, pds_cli_file_close)

typedef struct {
	PdsAnalyzer *analyzer;
	PdsFlowFormat format;
	GString *line;
	FILE *out;
	guint64 bad_records;
} AnalyzeRun;

static void
on_record(GBytes *record, gpointer user_data)
{
	AnalyzeRun *run = user_data;
	gsize len;
	const guint8 *data = g_bytes_get_data(record, &len);
	g_autoptr(GError) error = NULL;

	g_string_truncate(run->line, 0);
	if (!pds_flow_record_format(data, len, run->format, run->line, &error)) {
		/* Our own analyzer made it: a failure here is a bug worth a warning, not an exit.
		 */
		g_warning("cannot format a flow record: %s", error->message);
		run->bad_records++;
		return;
	}
	g_string_append_c(run->line, '\n');
	fwrite(run->line->str, 1, run->line->len, run->out);
}

static gboolean
on_block(PdsPcapngReader *reader, const PdsPcapngBlock *block, gpointer user_data, GError **error)
{
	AnalyzeRun *run = user_data;
	const PdsPcapngInterface *iface;

	if (block->type != PDS_PCAPNG_BT_EPB && block->type != PDS_PCAPNG_BT_SPB)
		return TRUE;
	iface = pds_pcapng_reader_get_interface(reader, block->interface_id);
	if (iface == NULL) {
		g_set_error(error, PDS_PCAPNG_ERROR, PDS_PCAPNG_ERROR_MALFORMED,
			    "packet at offset %" G_GUINT64_FORMAT
			    " names interface %u, which no Interface Description Block defined",
			    block->offset, block->interface_id);
		return FALSE;
	}
	pds_analyzer_process(run->analyzer, iface->linktype, block->timestamp_ns, block->packet,
			     block->caplen, block->origlen);
	return TRUE;
}

/* Classic pcap (libpcap's own format), both byte orders and both time resolutions. */
static gboolean
read_classic_pcap(const char *path, AnalyzeRun *run, GError **error)
{
	g_autoptr(PdsCliFile) fp = g_fopen(path, "rb");
	guint8 hdr[24];
	gboolean swap, nano;
	guint32 magic, linktype;
	g_autofree guint8 *pkt = NULL;
	gsize pkt_alloc = 0;

	if (fp == NULL) {
		int saved = errno;
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(saved), "cannot open “%s”: %s",
			    path, g_strerror(saved));
		return FALSE;
	}
	if (fread(hdr, 1, sizeof(hdr), fp) != sizeof(hdr)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
			    "“%s” is too short for a pcap file header", path);
		return FALSE;
	}
	memcpy(&magic, hdr, 4);
	swap = magic == 0xd4c3b2a1u || magic == 0x4d3cb2a1u;
	if (swap)
		magic = GUINT32_SWAP_LE_BE(magic);
	nano = magic == 0xa1b23c4du;
	memcpy(&linktype, hdr + 20, 4);
	if (swap)
		linktype = GUINT32_SWAP_LE_BE(linktype);
	linktype &= 0xffff;

	for (guint64 n = 0;; n++) {
		guint32 rec[4];
		gsize got = fread(rec, 1, sizeof(rec), fp);
		guint64 ts;

		if (got == 0 && feof(fp))
			return TRUE;
		if (got != sizeof(rec)) {
			g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
				    "“%s”: packet %" G_GUINT64_FORMAT " is cut short", path, n + 1);
			return FALSE;
		}
		if (swap) {
			for (guint i = 0; i < 4; i++)
				rec[i] = GUINT32_SWAP_LE_BE(rec[i]);
		}
		if (rec[2] > 16u * 1024u * 1024u) {
			g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
				    "“%s”: packet %" G_GUINT64_FORMAT
				    " claims %u captured bytes; the file is damaged",
				    path, n + 1, rec[2]);
			return FALSE;
		}
		if (rec[2] > pkt_alloc) {
			pkt_alloc = MAX(rec[2], 65536u);
			pkt = g_realloc(pkt, pkt_alloc);
		}
		if (fread(pkt, 1, rec[2], fp) != rec[2]) {
			g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
				    "“%s”: packet %" G_GUINT64_FORMAT " is cut short", path, n + 1);
			return FALSE;
		}
		ts = (guint64)rec[0] * G_GUINT64_CONSTANT(1000000000) +
		     (guint64)rec[1] * (nano ? 1u : 1000u);
		pds_analyzer_process(run->analyzer, linktype, ts, pkt, rec[2], rec[3]);
	}
}

/*
 * pcapng in pieces through the streaming reader: memory stays at one piece
 * plus one block whatever the file size (a mapping would count the whole
 * file in our resident size). "-" reads standard input.
 */
static gboolean
read_pcapng_stream(const char *path, AnalyzeRun *run, GError **error)
{
	g_autoptr(PdsPcapngReader) reader = pds_pcapng_reader_new();
	g_autofree guint8 *buf = g_malloc(READ_PIECE);
	g_autoptr(PdsCliFile) fp = NULL;
	PdsPcapngBlock block;

	fp = g_strcmp0(path, "-") == 0 ? NULL : g_fopen(path, "rb");
	if (fp == NULL && g_strcmp0(path, "-") != 0) {
		int saved = errno;
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(saved), "cannot open “%s”: %s",
			    path, g_strerror(saved));
		return FALSE;
	}
	for (;;) {
		gsize got = fread(buf, 1, READ_PIECE, fp != NULL ? fp : stdin);
		g_autoptr(GError) local = NULL;

		if (got == 0) {
			if (ferror(fp != NULL ? fp : stdin)) {
				g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
					    "cannot read “%s”", path);
				return FALSE;
			}
			if (!pds_pcapng_reader_finish(reader, error)) {
				g_prefix_error(error, "%s: ", path);
				return FALSE;
			}
			return TRUE;
		}
		pds_pcapng_reader_feed(reader, buf, got);
		while (pds_pcapng_reader_next(reader, &block, &local)) {
			if (!on_block(reader, &block, run, error))
				return FALSE;
		}
		if (local != NULL) {
			g_propagate_prefixed_error(error, g_steal_pointer(&local), "%s: ", path);
			return FALSE;
		}
	}
}

/*
 * A regular file is mapped and fed piece by piece (one copy less than
 * read()); pieces already fed are dropped from the mapping as we go, so the
 * resident size does not grow with the file.
 */
static gboolean
read_pcapng_mapped(const char *path, AnalyzeRun *run, GError **error)
{
	g_autoptr(PdsPcapngReader) reader = pds_pcapng_reader_new();
	PdsPcapngBlock block;
	struct stat st;
	const guint8 *map;
	gsize dropped = 0;
	gsize page = sysconf(_SC_PAGESIZE);
	gboolean ok = TRUE;
	int fd = g_open(path, O_RDONLY | O_CLOEXEC, 0);

	if (fd < 0 || fstat(fd, &st) != 0) {
		int saved = errno;
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(saved), "cannot open “%s”: %s",
			    path, g_strerror(saved));
		if (fd >= 0)
			close(fd);
		return FALSE;
	}
	if (st.st_size == 0) {
		close(fd);
		return pds_pcapng_reader_finish(reader, error);
	}
	map = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (map == MAP_FAILED) {
		int saved = errno;
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(saved), "cannot map “%s”: %s",
			    path, g_strerror(saved));
		return FALSE;
	}
	madvise((void *)map, st.st_size, MADV_SEQUENTIAL);
	for (gsize off = 0; ok && off < (gsize)st.st_size; off += READ_PIECE) {
		gsize n = MIN((gsize)READ_PIECE, (gsize)st.st_size - off);
		g_autoptr(GError) local = NULL;

		pds_pcapng_reader_feed(reader, map + off, n);
		while (ok && pds_pcapng_reader_next(reader, &block, &local))
			ok = on_block(reader, &block, run, error);
		if (ok && local != NULL) {
			g_propagate_prefixed_error(error, g_steal_pointer(&local), "%s: ", path);
			ok = FALSE;
		}
		/* The reader copied what it was fed: those pages are no longer needed. */
		if (off + n - dropped >= 16u * READ_PIECE) {
			gsize upto = (off + n) / page * page;
			madvise((void *)(map + dropped), upto - dropped, MADV_DONTNEED);
			dropped = upto;
		}
	}
	munmap((void *)map, st.st_size);
	if (ok && !pds_pcapng_reader_finish(reader, error)) {
		g_prefix_error(error, "%s: ", path);
		ok = FALSE;
	}
	return ok;
}

static gboolean
is_classic_pcap(const char *path)
{
	g_autoptr(PdsCliFile) fp = g_fopen(path, "rb");
	guint32 magic = 0;

	if (fp == NULL || fread(&magic, 1, 4, fp) != 4)
		return FALSE;
	return magic == 0xa1b2c3d4u || magic == 0xd4c3b2a1u || magic == 0xa1b23c4du ||
	       magic == 0x4d3cb2a1u;
}

int
pds_cli_analyze_main(int argc, char **argv)
{
	gboolean json = FALSE;
	gboolean stats = FALSE;
	gint body_bytes = 1024;
	gint max_flows = 65536;
	g_auto(GStrv) rest = NULL;
	const GOptionEntry entries[] = {
		{"json", 'j', 0, G_OPTION_ARG_NONE, &json,
		 /* TRANSLATORS: help of analyze --json */
		 N_("One JSON object per line instead of text"), NULL},
		{"stats", 's', 0, G_OPTION_ARG_NONE, &stats,
		 /* TRANSLATORS: help of analyze --stats */
		 N_("Print the analyzer's counters on stderr at the end"), NULL},
		{"body-bytes", 0, 0, G_OPTION_ARG_INT, &body_bytes,
		 /* TRANSLATORS: help of analyze --body-bytes */
		 N_("Body bytes kept per HTTP message (default: 1024)"), N_("N")},
		{"max-flows", 0, 0, G_OPTION_ARG_INT, &max_flows,
		 /* TRANSLATORS: help of analyze --max-flows */
		 N_("Connections tracked at once (default: 65536)"), N_("N")},
		{G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &rest, NULL, NULL},
		{NULL},
	};
	g_autoptr(GOptionContext) context = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GString) line = g_string_sized_new(4096);
	PdsAnalyzerConfig cfg;
	AnalyzeRun run = {0};
	gboolean ok;
	static char outbuf[1 << 16];

	/* TRANSLATORS: the argument of "podscope analyze"; keep FILE in capitals */
	context = g_option_context_new(_("FILE|-"));
	g_option_context_set_translation_domain(context, GETTEXT_PACKAGE);
	g_option_context_set_summary(
		context,
		/* TRANSLATORS: summary of "podscope analyze --help" */
		_("Reads a pcapng (or pcap) file and prints what happened on each TCP connection: "
		  "HTTP/1.1 requests and responses, TLS handshakes (SNI, ALPN, version, cipher), "
		  "timings and anomalies, one line per flow record."));
	g_option_context_add_main_entries(context, entries, GETTEXT_PACKAGE);
	if (!g_option_context_parse(context, &argc, &argv, &error)) {
		pds_cli_print_usage_error("analyze", error->message);
		return PDS_CLI_EXIT_USAGE;
	}
	if (rest == NULL || rest[0] == NULL) {
		pds_cli_print_usage_error("analyze", _("name the capture file to analyze"));
		return PDS_CLI_EXIT_USAGE;
	}
	if (rest[1] != NULL) {
		/* TRANSLATORS: %s is the first argument we did not expect */
		g_autofree gchar *msg = g_strdup_printf(_("unexpected argument “%s”"), rest[1]);
		pds_cli_print_usage_error("analyze", msg);
		return PDS_CLI_EXIT_USAGE;
	}
	if (body_bytes < 0 || body_bytes > 1024 * 1024) {
		pds_cli_print_usage_error("analyze",
					  _("--body-bytes must be between 0 and 1048576"));
		return PDS_CLI_EXIT_USAGE;
	}
	if (max_flows < 16 || max_flows > 1 << 24) {
		pds_cli_print_usage_error("analyze",
					  _("--max-flows must be between 16 and 16777216"));
		return PDS_CLI_EXIT_USAGE;
	}

	pds_analyzer_config_init(&cfg);
	cfg.body_prefix_bytes = body_bytes;
	cfg.max_flows = max_flows;
	run.format = json ? PDS_FLOW_FORMAT_JSON : PDS_FLOW_FORMAT_TEXT;
	run.line = line;
	run.out = stdout;
	setvbuf(stdout, outbuf, _IOFBF, sizeof(outbuf));
	run.analyzer = pds_analyzer_new(&cfg, on_record, &run);

	if (g_strcmp0(rest[0], "-") != 0 && is_classic_pcap(rest[0]))
		ok = read_classic_pcap(rest[0], &run, &error);
	else if (g_strcmp0(rest[0], "-") == 0)
		ok = read_pcapng_stream(rest[0], &run, &error);
	else
		ok = read_pcapng_mapped(rest[0], &run, &error);
	/* What was read is reported even when the file ends badly (a capture cut short). */
	pds_analyzer_flush(run.analyzer);
	if (stats) {
		PdsAnalyzerStats st;
		pds_analyzer_get_stats(run.analyzer, &st);
		g_printerr("packets=%" G_GUINT64_FORMAT " tcp=%" G_GUINT64_FORMAT
			   " non_tcp=%" G_GUINT64_FORMAT " malformed=%" G_GUINT64_FORMAT
			   " fragments=%" G_GUINT64_FORMAT " ignored=%" G_GUINT64_FORMAT
			   " flows=%" G_GUINT64_FORMAT " evicted=%" G_GUINT64_FORMAT
			   " timed_out=%" G_GUINT64_FORMAT " half_open_dropped=%" G_GUINT64_FORMAT
			   " records=%" G_GUINT64_FORMAT " memory_peak=%" G_GSIZE_FORMAT
			   " memory_denied=%" G_GUINT64_FORMAT "\n",
			   st.packets, st.tcp_packets, st.non_tcp_packets, st.malformed_packets,
			   st.fragments, st.ignored_packets, st.flows_created, st.flows_evicted,
			   st.flows_timed_out, st.half_open_dropped, st.records, st.memory_peak,
			   st.memory_denied);
	}
	pds_analyzer_free(run.analyzer);

	if (fflush(stdout) != 0 || ferror(stdout)) {
		int saved = errno;
		/* TRANSLATORS: %s is the system's error message */
		g_autofree gchar *msg = g_strdup_printf(
			_("cannot write the results to standard output: %s"), g_strerror(saved));
		pds_cli_print_error("analyze", msg);
		return PDS_CLI_EXIT_FAILURE;
	}
	if (!ok) {
		/* TRANSLATORS: %s says what is wrong with the file */
		g_autofree gchar *msg = g_strdup_printf(
			_("%s (the records above cover the packets read before it)"),
			error->message);
		pds_cli_print_error("analyze", msg);
		return PDS_CLI_EXIT_FAILURE;
	}
	return run.bad_records > 0 ? PDS_CLI_EXIT_FAILURE : PDS_CLI_EXIT_OK;
}
