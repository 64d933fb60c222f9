/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "PdsExtcap"

#include "pds-extcap-filter.h"
#include "pds-pcapng-reader.h"
#include "pds-record-codec.h"

struct _PdsExtcapFilter {
	GFilterOutputStream parent_instance;
	PdsPcapngReader *reader;
	guint64 dropped;
	gboolean broken; /* the input was not pcapng: pass the rest through untouched */
};

G_DEFINE_TYPE(PdsExtcapFilter, pds_extcap_filter, G_TYPE_FILTER_OUTPUT_STREAM)

static gboolean
is_file_record(const guint8 *record, gsize len)
{
	PdsRecordHeader header;

	return record != NULL && pds_record_parse_header(record, len, &header, NULL) &&
	       header.type == PDS_RECORD_FILE_ACCESS;
}

static gboolean
block_wanted(PdsExtcapFilter *self, const PdsPcapngBlock *block)
{
	if (block->type == PDS_PCAPNG_BT_CUSTOM || block->type == PDS_PCAPNG_BT_CUSTOM_NOCOPY)
		return !(block->pen == PDS_PEN &&
			 is_file_record(block->custom_data, block->custom_len));
	if (block->type == PDS_PCAPNG_BT_EPB) {
		const PdsPcapngInterface *iface =
			pds_pcapng_reader_get_interface(self->reader, block->interface_id);
		gsize len = 0;
		const guint8 *record;

		if (iface == NULL || iface->linktype != PDS_LINKTYPE_WIRESHARK_UPPER_PDU)
			return TRUE;
		record = pds_record_from_exported_pdu(block->packet, block->caplen, &len);
		return !is_file_record(record, len);
	}
	return TRUE;
}

static gssize
pds_extcap_filter_write(GOutputStream *stream,
			const void *buffer,
			gsize count,
			GCancellable *cancellable,
			GError **error)
{
	PdsExtcapFilter *self = PDS_EXTCAP_FILTER(stream);
	GOutputStream *base = g_filter_output_stream_get_base_stream(G_FILTER_OUTPUT_STREAM(self));
	PdsPcapngBlock block;
	g_autoptr(GError) parse_error = NULL;

	if (self->broken) {
		if (!g_output_stream_write_all(base, buffer, count, NULL, cancellable, error))
			return -1;
		return (gssize)count;
	}
	pds_pcapng_reader_feed(self->reader, buffer, count);
	while (pds_pcapng_reader_next(self->reader, &block, &parse_error)) {
		if (!block_wanted(self, &block)) {
			self->dropped++;
			continue;
		}
		if (!g_output_stream_write_all(base, block.raw, block.length, NULL, cancellable,
					       error))
			return -1;
	}
	if (parse_error != NULL) {
		/* Not ours to judge: Wireshark will say what is wrong with the stream. */
		g_warning("the capture stream is not valid pcapng (%s); passing the rest "
			  "through unfiltered",
			  parse_error->message);
		self->broken = TRUE;
	}
	return (gssize)count;
}

static void
pds_extcap_filter_finalize(GObject *object)
{
	PdsExtcapFilter *self = PDS_EXTCAP_FILTER(object);

	pds_pcapng_reader_free(self->reader);
	G_OBJECT_CLASS(pds_extcap_filter_parent_class)->finalize(object);
}

static void
pds_extcap_filter_class_init(PdsExtcapFilterClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);
	GOutputStreamClass *stream_class = G_OUTPUT_STREAM_CLASS(klass);

	object_class->finalize = pds_extcap_filter_finalize;
	stream_class->write_fn = pds_extcap_filter_write;
}

static void
pds_extcap_filter_init(PdsExtcapFilter *self)
{
	self->reader = pds_pcapng_reader_new();
}

PdsExtcapFilter *
pds_extcap_filter_new(GOutputStream *base)
{
	g_return_val_if_fail(G_IS_OUTPUT_STREAM(base), NULL);
	return g_object_new(PDS_TYPE_EXTCAP_FILTER, "base-stream", base, "close-base-stream", FALSE,
			    NULL);
}

guint64
pds_extcap_filter_get_dropped(PdsExtcapFilter *self)
{
	g_return_val_if_fail(PDS_IS_EXTCAP_FILTER(self), 0);
	return self->dropped;
}
