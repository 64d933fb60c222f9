/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <linux/types.h>

#include "pds-record-codec.h"
#include "pds-snoop-cgroup.h"
#include "pds-snoop-event.h"
#include "pds-snoop-report.h"
#include "pds-snoop-stream.h"

static void
test_first_seen(void)
{
	g_autoptr(PdsSnoopReport) r = pds_snoop_report_new(10);
	PdsSnoopContainer *c = pds_snoop_report_ensure_container(r, 42, "abc", "web", "/pod/web");
	gboolean first = FALSE;
	PdsSnoopFile *f;

	f = pds_snoop_container_add(c, "/etc/hostname", NULL, NULL, PDS_SNOOP_SC_OPENAT,
				    PDS_SNOOP_ST_HAS_RESULT, -2, 1000, &first);
	g_assert_true(first);
	g_assert_false(f->ok);
	g_assert_cmpint(f->last_errno, ==, 2);
	pds_snoop_container_add(c, "/etc/hostname", "hostname", NULL, PDS_SNOOP_SC_OPENAT,
				PDS_SNOOP_ST_HAS_RESULT, 3, 2000, &first);
	g_assert_false(first);
	g_assert_true(f->ok);
	g_assert_cmpstr(f->raw_path, ==, "hostname");
	pds_snoop_container_add(c, "/etc/hostname", NULL, NULL, PDS_SNOOP_SC_STAT,
				PDS_SNOOP_ST_HAS_RESULT, 0, 3000, &first);
	g_assert_true(first);
	g_assert_cmpuint(f->count, ==, 3);
	g_assert_cmpuint(pds_snoop_report_get_unique_files(r), ==, 1);
	g_assert_true(pds_snoop_report_lookup_container(r, 42) == c);
}

static void
test_write_atomic(void)
{
	g_autoptr(PdsSnoopReport) r = pds_snoop_report_new(10);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *dir = g_dir_make_tmp("pds-snoop-report-XXXXXX", &error);
	g_autofree gchar *path = g_build_filename(dir, "report.json", NULL);
	g_autofree gchar *missing = g_build_filename(dir, "no", "such", "report.json", NULL);
	g_autoptr(JsonParser) parser = json_parser_new();
	PdsSnoopContainer *c = pds_snoop_report_ensure_container(r, 1, "id", "app", NULL);
	gboolean first;
	JsonObject *root, *cont, *file;

	g_assert_no_error(error);
	r->pod = g_strdup("web-1");
	g_hash_table_insert(r->labels, g_strdup("app"), g_strdup("web"));
	pds_snoop_container_add(c, "/b", NULL, NULL, PDS_SNOOP_SC_OPENAT, 0, 0, 1, &first);
	/* File names are bytes: quotes, control characters, invalid UTF-8, non-ASCII. */
	pds_snoop_container_add(c, "/odd\"name\n\xff\xc3\xa9", NULL, NULL, PDS_SNOOP_SC_STAT, 0, 0,
				1, &first);
	pds_snoop_container_add(c, "/a", NULL, "/real/a", PDS_SNOOP_SC_EXECVE,
				PDS_SNOOP_ST_HAS_RESULT | PDS_SNOOP_ST_COMPAT, 0, 1, &first);
	g_assert_true(pds_snoop_report_write(r, path, &error));
	g_assert_no_error(error);
	g_assert_true(json_parser_load_from_file(parser, path, &error));
	root = json_node_get_object(json_parser_get_root(parser));
	g_assert_cmpstr(json_object_get_string_member(root, "pod"), ==, "web-1");
	cont = json_array_get_object_element(json_object_get_array_member(root, "containers"), 0);
	g_assert_cmpstr(json_object_get_string_member(cont, "name"), ==, "app");
	/* Sorted by path. */
	file = json_array_get_object_element(json_object_get_array_member(cont, "files"), 0);
	g_assert_cmpstr(json_object_get_string_member(file, "path"), ==, "/a");
	g_assert_cmpstr(json_object_get_string_member(file, "resolved_path"), ==, "/real/a");
	g_assert_true(json_object_get_boolean_member(file, "compat"));
	file = json_array_get_object_element(json_object_get_array_member(cont, "files"), 2);
	g_assert_cmpstr(json_object_get_string_member(file, "path"), ==,
			"/odd\"name\n\xc3\xbf\xc3\xa9");

	/* A failed write leaves an error and no stray file. */
	g_assert_false(pds_snoop_report_write(r, missing, &error));
	g_assert_nonnull(error);
	g_assert_nonnull(strstr(error->message, missing));
	g_remove(path);
	g_rmdir(dir);
}

static void
test_container_names(void)
{
	const struct {
		const char *name;
		const char *id;
		const char *label;
	} cases[] = {
		{"cri-containerd-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef."
		 "scope",
		 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		 "0123456789ab"},
		{"crio-fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210.scope",
		 "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210",
		 "fedcba987654"},
		{"docker-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.scope",
		 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		 "aaaaaaaaaaaa"},
		{"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
		 "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
		 "bbbbbbbbbbbb"},
		{"web", "web", "web"},
		{"cri-containerd-short.scope", "cri-containerd-short.scope",
		 "cri-containerd-short.scope"},
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree gchar *id = NULL;
		g_autofree gchar *label = NULL;

		pds_snoop_cgroup_parse_name(cases[i].name, &id, &label);
		g_assert_cmpstr(id, ==, cases[i].id);
		g_assert_cmpstr(label, ==, cases[i].label);
	}
}

static void
test_access_record(void)
{
	PdsSnoopAccess a = {
		.timestamp_ns = 1700000000123456789ull,
		.syscall = "openat",
		.path = "/etc/hostname",
		.raw_path = "hostname",
		.pid = 10,
		.tgid = 9,
		.comm = "cat",
		.cgroup_id = 77,
		.container_name = "web",
		.container_id = "abc",
		.has_result = TRUE,
		.result = -2,
		.compat = TRUE,
		.count = 1,
	};
	g_autoptr(GBytes) rec = pds_snoop_access_to_record(&a, "web-1", "default");
	g_autoptr(GError) error = NULL;
	PdsRecordHeader h;
	PdsRecordIter it;
	const guint8 *value;
	guint16 code, len;
	guint seen = 0;
	gsize size;
	const guint8 *data = g_bytes_get_data(rec, &size);

	g_assert_true(pds_record_iter_init(&it, data, size, &h, &error));
	g_assert_cmpuint(h.type, ==, PDS_RECORD_FILE_ACCESS);
	g_assert_cmpuint(h.timestamp_ns, ==, a.timestamp_ns);
	while (pds_record_iter_next(&it, &code, &value, &len, &error)) {
		g_autofree gchar *s = NULL;
		guint64 v64;

		switch (code) {
		case PDS_FILE_PATH:
			s = pds_record_value_dup_string(value, len);
			g_assert_cmpstr(s, ==, "/etc/hostname");
			seen |= 1;
			break;
		case PDS_FILE_RAW_PATH:
			s = pds_record_value_dup_string(value, len);
			g_assert_cmpstr(s, ==, "hostname");
			seen |= 2;
			break;
		case PDS_FILE_RESULT:
			g_assert_true(pds_record_value_u64(value, len, &v64));
			g_assert_cmpint((gint64)v64, ==, -2);
			seen |= 4;
			break;
		case PDS_FILE_SYSCALL:
			s = pds_record_value_dup_string(value, len);
			g_assert_cmpstr(s, ==, "openat");
			seen |= 8;
			break;
		default:
			break;
		}
	}
	g_assert_no_error(error);
	g_assert_cmpuint(seen, ==, 15);
}

static void
test_runtime_meta(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *dir = g_dir_make_tmp("pds-snoop-oci-XXXXXX", &error);
	g_autofree gchar *cdir = g_build_filename(dir, "abc", NULL);
	g_autofree gchar *config = g_build_filename(cdir, "config.json", NULL);
	g_autofree gchar *tmpl = g_build_filename(dir, "{id}", "config.json", NULL);
	g_autofree gchar *missing = g_build_filename(dir, "none", "{id}.json", NULL);
	const char *templates[] = {missing, tmpl, NULL};
	g_autofree gchar *name = NULL;
	g_autofree gchar *image = NULL;
	g_autofree gchar *name2 = NULL;
	g_autofree gchar *image2 = NULL;

	g_assert_no_error(error);
	g_assert_cmpint(g_mkdir(cdir, 0755), ==, 0);
	g_assert_true(g_file_set_contents(
		config,
		"{\"ociVersion\":\"1.0.2\",\"annotations\":{"
		"\"io.kubernetes.cri.container-name\":\"nginx\","
		"\"io.kubernetes.cri.image-name\":\"docker.io/library/nginx:1.25\"}}",
		-1, &error));
	g_assert_true(pds_snoop_cgroup_read_runtime_meta(templates, "abc", &name, &image));
	g_assert_cmpstr(name, ==, "nginx");
	g_assert_cmpstr(image, ==, "docker.io/library/nginx:1.25");
	g_assert_false(pds_snoop_cgroup_read_runtime_meta(templates, "zzz", &name2, &image2));
	g_assert_null(name2);
	g_remove(config);
	g_rmdir(cdir);
	g_rmdir(dir);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/snoop/report/first-seen", test_first_seen);
	g_test_add_func("/snoop/report/write-atomic", test_write_atomic);
	g_test_add_func("/snoop/report/container-names", test_container_names);
	g_test_add_func("/snoop/report/access-record", test_access_record);
	g_test_add_func("/snoop/report/runtime-meta", test_runtime_meta);
	return g_test_run();
}
