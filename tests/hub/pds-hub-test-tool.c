/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Helper of the hub tests:
 *   pds-hub-test-tool certs DIR   session CA, hub and source certificates, plus
 *                                 a foreign CA's and an expired certificate
 *   pds-hub-test-tool scan FILE   reads a pcapng file with the PodScope reader
 *                                 and prints what it holds as JSON
 */
#include "config.h"

#include <json-glib/json-glib.h>
#include <stdio.h>
#include <string.h>

#include "pds-pcapng-reader.h"
#include "pds-record-codec.h"
#include "pds-tls.h"

static gboolean
issue(PdsTlsIdentity *ca,
      const char *dir,
      const char *name,
      PdsTlsUsage usage,
      gint64 not_before,
      guint lifetime,
      GError **error)
{
	const char *hosts[] = {"podscope-hub", "localhost", "127.0.0.1", NULL};
	g_autoptr(PdsTlsIdentity) id = pds_tls_identity_issue(
		ca, name, usage, usage == PDS_TLS_USAGE_SERVER ? hosts : NULL, not_before, lifetime,
		error);
	if (id == NULL)
		return FALSE;
	return pds_tls_identity_save(id, dir, name, error);
}

static int
cmd_certs(const char *dir)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(PdsTlsIdentity) ca = NULL;
	g_autoptr(PdsTlsIdentity) other = NULL;
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;

	ca = pds_tls_identity_new_ca("PodScope test session CA", &error);
	if (ca == NULL || !pds_tls_identity_save(ca, dir, "ca", &error) ||
	    !issue(ca, dir, "podscope-hub", PDS_TLS_USAGE_SERVER, 0, 86400, &error) ||
	    !issue(ca, dir, "agent-a", PDS_TLS_USAGE_CLIENT, 0, 86400, &error) ||
	    !issue(ca, dir, "agent-b", PDS_TLS_USAGE_CLIENT, 0, 86400, &error) ||
	    !issue(ca, dir, "expired", PDS_TLS_USAGE_CLIENT, now - 7200, 3600, &error)) {
		g_printerr("certs: %s\n", error->message);
		return 1;
	}
	other = pds_tls_identity_new_ca("Some other CA", &error);
	if (other == NULL ||
	    !issue(other, dir, "stranger", PDS_TLS_USAGE_CLIENT, 0, 86400, &error)) {
		g_printerr("certs: %s\n", error->message);
		return 1;
	}
	return 0;
}

typedef struct {
	guint sections, idbs, epbs, isbs, customs, nrbs, controls, others;
	guint records_by_type[8];
	GPtrArray *if_names;
	GArray *epb_per_if;
	guint exported_pdus;
} Scan;

static gboolean
scan_block(PdsPcapngReader *reader, const PdsPcapngBlock *block, gpointer user_data, GError **error)
{
	Scan *s = user_data;
	PdsRecordHeader header;
	guint zero = 0;

	switch (block->type) {
	case PDS_PCAPNG_BT_SHB:
		s->sections++;
		break;
	case PDS_PCAPNG_BT_IDB: {
		gchar *name = pds_pcapng_block_dup_option_string(block, PDS_PCAPNG_IF_NAME);
		s->idbs++;
		if (s->sections == 1) {
			g_ptr_array_add(s->if_names, name != NULL ? name : g_strdup(""));
			g_array_append_val(s->epb_per_if, zero);
		} else {
			g_free(name);
		}
		break;
	}
	case PDS_PCAPNG_BT_EPB:
		s->epbs++;
		if (s->sections == 1 && block->interface_id < s->epb_per_if->len)
			g_array_index(s->epb_per_if, guint, block->interface_id)++;
		if (block->linktype == PDS_LINKTYPE_WIRESHARK_UPPER_PDU ||
		    (pds_pcapng_reader_get_interface(reader, block->interface_id) != NULL &&
		     pds_pcapng_reader_get_interface(reader, block->interface_id)->linktype ==
			     PDS_LINKTYPE_WIRESHARK_UPPER_PDU)) {
			gsize rlen = 0;
			if (pds_record_from_exported_pdu(block->packet, block->caplen, &rlen) !=
			    NULL)
				s->exported_pdus++;
		}
		break;
	case PDS_PCAPNG_BT_ISB:
		s->isbs++;
		break;
	case PDS_PCAPNG_BT_NRB:
		s->nrbs++;
		break;
	case PDS_PCAPNG_BT_CUSTOM:
	case PDS_PCAPNG_BT_CUSTOM_NOCOPY:
		if (block->pen == PDS_PEN &&
		    pds_record_parse_header(block->custom_data, block->custom_len, &header, NULL)) {
			if (header.type == PDS_RECORD_CONTROL)
				s->controls++;
			else
				s->customs++;
			if (header.type < G_N_ELEMENTS(s->records_by_type))
				s->records_by_type[header.type]++;
		}
		break;
	default:
		s->others++;
		break;
	}
	return TRUE;
}

static int
cmd_scan(const char *path)
{
	Scan s = {0};
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autoptr(JsonNode) root = NULL;
	g_autofree gchar *json = NULL;
	gboolean ok;

	s.if_names = g_ptr_array_new_with_free_func(g_free);
	s.epb_per_if = g_array_new(FALSE, TRUE, sizeof(guint));
	ok = pds_pcapng_read_file(path, scan_block, &s, &error);

	json_builder_begin_object(b);
	json_builder_set_member_name(b, "ok");
	json_builder_add_boolean_value(b, ok);
	if (!ok) {
		json_builder_set_member_name(b, "error");
		json_builder_add_string_value(b, error->message);
	}
#define FIELD(n)                                                                                   \
	json_builder_set_member_name(b, #n);                                                       \
	json_builder_add_int_value(b, s.n)
	FIELD(sections);
	FIELD(idbs);
	FIELD(epbs);
	FIELD(isbs);
	FIELD(customs);
	FIELD(nrbs);
	FIELD(controls);
	FIELD(others);
	FIELD(exported_pdus);
#undef FIELD
	json_builder_set_member_name(b, "if_names");
	json_builder_begin_array(b);
	for (guint i = 0; i < s.if_names->len; i++)
		json_builder_add_string_value(b, g_ptr_array_index(s.if_names, i));
	json_builder_end_array(b);
	json_builder_set_member_name(b, "epb_per_if");
	json_builder_begin_array(b);
	for (guint i = 0; i < s.epb_per_if->len; i++)
		json_builder_add_int_value(b, g_array_index(s.epb_per_if, guint, i));
	json_builder_end_array(b);
	json_builder_set_member_name(b, "records_by_type");
	json_builder_begin_array(b);
	for (guint i = 0; i < G_N_ELEMENTS(s.records_by_type); i++)
		json_builder_add_int_value(b, s.records_by_type[i]);
	json_builder_end_array(b);
	json_builder_end_object(b);
	root = json_builder_get_root(b);
	json = json_to_string(root, FALSE);
	printf("%s\n", json);
	g_ptr_array_unref(s.if_names);
	g_array_unref(s.epb_per_if);
	return ok ? 0 : 1;
}

int
main(int argc, char **argv)
{
	if (argc == 3 && g_str_equal(argv[1], "certs"))
		return cmd_certs(argv[2]);
	if (argc == 3 && g_str_equal(argv[1], "scan"))
		return cmd_scan(argv[2]);
	g_printerr("usage: %s certs DIR | scan FILE\n", argv[0]);
	return 2;
}
