/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

/* strerrorname_np() */
#define _GNU_SOURCE
#define G_LOG_DOMAIN "PdsSnoop"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <linux/types.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "pds-snoop-event.h"
#include "pds-snoop-report.h"
#include "pds-snoop-syscall.h"

static void
pds_snoop_file_free(PdsSnoopFile *file)
{
	/* file->path lives in the same allocation. */
	g_free(file->raw_path);
	g_free(file->resolved_path);
	g_free(file);
}

static void
pds_snoop_container_free(PdsSnoopContainer *container)
{
	g_free(container->id);
	g_free(container->name);
	g_free(container->cgroup);
	g_free(container->image);
	g_free(container->image_digest);
	pds_snoop_lru_free(container->files);
	g_free(container);
}

PdsSnoopReport *
pds_snoop_report_new(guint lru_size)
{
	PdsSnoopReport *report = g_new0(PdsSnoopReport, 1);

	g_return_val_if_fail(lru_size > 0, NULL);
	report->lru_size = lru_size;
	report->labels = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	report->containers = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free,
						   (GDestroyNotify)pds_snoop_container_free);
	report->started_us = g_get_real_time();
	report->updated_us = report->started_us;
	return report;
}

void
pds_snoop_report_free(PdsSnoopReport *report)
{
	if (report == NULL)
		return;
	g_free(report->pod);
	g_free(report->namespace);
	g_free(report->node);
	g_hash_table_unref(report->labels);
	g_hash_table_unref(report->containers);
	g_free(report);
}

PdsSnoopContainer *
pds_snoop_report_lookup_container(PdsSnoopReport *report, guint64 cgroup_id)
{
	gint64 key = (gint64)cgroup_id;

	return g_hash_table_lookup(report->containers, &key);
}

PdsSnoopContainer *
pds_snoop_report_ensure_container(PdsSnoopReport *report,
				  guint64 cgroup_id,
				  const char *id,
				  const char *name,
				  const char *cgroup)
{
	PdsSnoopContainer *container = pds_snoop_report_lookup_container(report, cgroup_id);
	gint64 *key;

	if (container != NULL) {
		if (id != NULL && g_strcmp0(container->id, id) != 0) {
			g_free(container->id);
			container->id = g_strdup(id);
		}
		if (name != NULL && g_strcmp0(container->name, name) != 0) {
			g_free(container->name);
			container->name = g_strdup(name);
		}
		if (cgroup != NULL && g_strcmp0(container->cgroup, cgroup) != 0) {
			g_free(container->cgroup);
			container->cgroup = g_strdup(cgroup);
		}
		return container;
	}
	container = g_new0(PdsSnoopContainer, 1);
	container->cgroup_id = cgroup_id;
	container->id = g_strdup(id);
	container->name = g_strdup(name);
	container->cgroup = g_strdup(cgroup);
	/* Keys borrowed: each is the path in its file's own allocation. */
	container->files =
		pds_snoop_lru_new_borrowed(report->lru_size, (GDestroyNotify)pds_snoop_file_free);
	key = g_new(gint64, 1);
	*key = (gint64)cgroup_id;
	g_hash_table_insert(report->containers, key, container);
	return container;
}

PdsSnoopFile *
pds_snoop_container_add(PdsSnoopContainer *container,
			const char *path,
			const char *raw_path,
			const char *resolved_path,
			guint32 syscall,
			guint32 status,
			gint64 result,
			gint64 now_us,
			gboolean *first_seen)
{
	PdsSnoopFile *file;
	guint32 bit = syscall < 32 ? 1u << syscall : 0;

	g_return_val_if_fail(container != NULL, NULL);
	g_return_val_if_fail(path != NULL, NULL);

	container->events++;
	file = pds_snoop_lru_lookup(container->files, path);
	if (file == NULL) {
		gsize len = strlen(path) + 1;

		/* The path in the same block as the file: one allocation per file. */
		file = g_malloc0(sizeof(PdsSnoopFile) + len);
		file->path = memcpy((char *)(file + 1), path, len);
		file->first_seen_us = now_us;
		pds_snoop_lru_insert(container->files, file->path, file);
	}
	*first_seen = (file->syscalls & bit) == 0;
	file->syscalls |= bit;
	file->status |= status;
	file->count++;
	file->last_seen_us = now_us;
	if (file->raw_path == NULL && raw_path != NULL && g_strcmp0(raw_path, path) != 0)
		file->raw_path = g_strdup(raw_path);
	if (file->resolved_path == NULL && resolved_path != NULL &&
	    g_strcmp0(resolved_path, path) != 0)
		file->resolved_path = g_strdup(resolved_path);
	if ((status & PDS_SNOOP_ST_HAS_RESULT) == 0 || result >= 0)
		file->ok = TRUE;
	else
		file->last_errno = (gint)-result;
	return file;
}

guint64
pds_snoop_report_get_unique_files(PdsSnoopReport *report)
{
	GHashTableIter iter;
	gpointer value;
	guint64 n = 0;

	g_hash_table_iter_init(&iter, report->containers);
	while (g_hash_table_iter_next(&iter, NULL, &value))
		n += pds_snoop_lru_get_size(((PdsSnoopContainer *)value)->files);
	return n;
}

gchar *
pds_snoop_errno_name(gint err)
{
	const char *name = strerrorname_np(err);

	if (name != NULL)
		return g_strdup(name);
	return g_strdup_printf("E%d", err);
}

static gchar *
pds_snoop_time_to_iso8601(gint64 us)
{
	g_autoptr(GDateTime) dt = g_date_time_new_from_unix_utc(us / G_USEC_PER_SEC);

	if (dt == NULL)
		return g_strdup("1970-01-01T00:00:00Z");
	return g_date_time_format(dt, "%Y-%m-%dT%H:%M:%SZ");
}

static void
pds_snoop_collect_file(gpointer key, gpointer value, gpointer user_data)
{
	g_ptr_array_add(user_data, value);
}

static gint
pds_snoop_file_cmp(gconstpointer a, gconstpointer b)
{
	const PdsSnoopFile *fa = *(PdsSnoopFile *const *)a;
	const PdsSnoopFile *fb = *(PdsSnoopFile *const *)b;

	return strcmp(fa->path, fb->path);
}

static gint
pds_snoop_container_cmp(gconstpointer a, gconstpointer b)
{
	const PdsSnoopContainer *ca = *(PdsSnoopContainer *const *)a;
	const PdsSnoopContainer *cb = *(PdsSnoopContainer *const *)b;

	return g_strcmp0(ca->name, cb->name);
}

/*
 * A JSON string. File names are bytes, not always UTF-8: bytes that are not
 * valid UTF-8 are written as the code point of the same value (\u00XX), so the
 * document stays valid JSON.
 */
static void
pds_snoop_put_string(FILE *f, const char *s)
{
	if (s == NULL) {
		fputs("null", f);
		return;
	}
	fputc('"', f);
	while (*s != '\0') {
		guchar c = (guchar)*s;

		if (c == '"' || c == '\\') {
			fputc('\\', f);
			fputc(c, f);
			s++;
		} else if (c < 0x20) {
			fprintf(f, "\\u%04x", c);
			s++;
		} else if (c < 0x80) {
			fputc(c, f);
			s++;
		} else {
			gunichar u = g_utf8_get_char_validated(s, -1);

			if (u == (gunichar)-1 || u == (gunichar)-2) {
				fprintf(f, "\\u%04x", c);
				s++;
			} else {
				const char *next = g_utf8_next_char(s);

				fwrite(s, 1, next - s, f);
				s = next;
			}
		}
	}
	fputc('"', f);
}

static void
pds_snoop_put_member(FILE *f, const char *indent, const char *name, const char *value)
{
	fprintf(f, ",\n%s\"%s\": ", indent, name);
	pds_snoop_put_string(f, value);
}

static void
pds_snoop_put_time(FILE *f, const char *indent, const char *name, gint64 us)
{
	g_autofree gchar *s = pds_snoop_time_to_iso8601(us);

	pds_snoop_put_member(f, indent, name, s);
}

static void
pds_snoop_put_file(FILE *f, PdsSnoopFile *file, gboolean first)
{
	const char *in = "          ";
	gboolean first_sc = TRUE;

	fprintf(f, "%s\n        {\n%s\"path\": ", first ? "" : ",", in);
	pds_snoop_put_string(f, file->path);
	fprintf(f, ",\n%s\"syscalls\": [", in);
	for (guint32 i = 1; i < 32; i++) {
		if ((file->syscalls & (1u << i)) == 0 || pds_snoop_syscall_to_string(i) == NULL)
			continue;
		fprintf(f, "%s\"%s\"", first_sc ? "" : ", ", pds_snoop_syscall_to_string(i));
		first_sc = FALSE;
	}
	fprintf(f, "],\n%s\"count\": %" G_GUINT64_FORMAT, in, file->count);
	if (file->ok) {
		pds_snoop_put_member(f, in, "result", "ok");
	} else {
		g_autofree gchar *name = pds_snoop_errno_name(file->last_errno);

		pds_snoop_put_member(f, in, "result", name);
	}
	pds_snoop_put_time(f, in, "first_seen", file->first_seen_us);
	pds_snoop_put_time(f, in, "last_seen", file->last_seen_us);
	if (file->raw_path != NULL)
		pds_snoop_put_member(f, in, "raw_path", file->raw_path);
	if (file->resolved_path != NULL)
		pds_snoop_put_member(f, in, "resolved_path", file->resolved_path);
	if (file->status & PDS_SNOOP_ST_UNRESOLVED)
		fprintf(f, ",\n%s\"unresolved\": true", in);
	if (file->status & PDS_SNOOP_ST_TRUNCATED)
		fprintf(f, ",\n%s\"truncated\": true", in);
	if (file->status & PDS_SNOOP_ST_INTERP)
		fprintf(f, ",\n%s\"loaded_by_exec\": true", in);
	if (file->status & PDS_SNOOP_ST_COMPAT)
		fprintf(f, ",\n%s\"compat\": true", in);
	fputs("\n        }", f);
}

/*
 * Streams the report into @f. Written by hand rather than through a JSON
 * tree: a tree of 100 000 files would cost several times the report's size in
 * memory at every write.
 */
static void
pds_snoop_report_put(PdsSnoopReport *report, FILE *f)
{
	g_autoptr(GPtrArray) containers = g_ptr_array_new();
	g_autoptr(GList) label_keys = NULL;
	GHashTableIter iter;
	gpointer value;
	const char *in = "  ";

	fprintf(f, "{\n  \"version\": %d", PDS_SNOOP_REPORT_VERSION);
	pds_snoop_put_member(f, in, "generator", "podscope-snoop " PACKAGE_VERSION);
	pds_snoop_put_member(f, in, "pod", report->pod);
	pds_snoop_put_member(f, in, "namespace", report->namespace);
	pds_snoop_put_member(f, in, "node", report->node);
	fputs(",\n  \"labels\": {", f);
	label_keys = g_list_sort(g_hash_table_get_keys(report->labels), (GCompareFunc)strcmp);
	for (GList *l = label_keys; l != NULL; l = l->next) {
		fprintf(f, "%s\n    ", l == label_keys ? "" : ",");
		pds_snoop_put_string(f, l->data);
		fputs(": ", f);
		pds_snoop_put_string(f, g_hash_table_lookup(report->labels, l->data));
	}
	fputs(label_keys != NULL ? "\n  }" : "}", f);
	pds_snoop_put_time(f, in, "started", report->started_us);
	pds_snoop_put_time(f, in, "updated", report->updated_us);
	fprintf(f,
		",\n  \"events_total\": %" G_GUINT64_FORMAT
		",\n  \"events_dropped\": %" G_GUINT64_FORMAT
		",\n  \"events_excluded\": %" G_GUINT64_FORMAT
		",\n  \"events_unresolved\": %" G_GUINT64_FORMAT,
		report->events_total, report->events_dropped, report->events_excluded,
		report->events_unresolved);

	g_hash_table_iter_init(&iter, report->containers);
	while (g_hash_table_iter_next(&iter, NULL, &value))
		g_ptr_array_add(containers, value);
	g_ptr_array_sort(containers, pds_snoop_container_cmp);

	fputs(",\n  \"containers\": [", f);
	for (guint i = 0; i < containers->len; i++) {
		PdsSnoopContainer *c = g_ptr_array_index(containers, i);
		g_autoptr(GPtrArray) files = g_ptr_array_new();
		const char *cin = "      ";

		pds_snoop_lru_foreach(c->files, pds_snoop_collect_file, files);
		g_ptr_array_sort(files, pds_snoop_file_cmp);

		fprintf(f, "%s\n    {\n      \"id\": ", i == 0 ? "" : ",");
		pds_snoop_put_string(f, c->id);
		pds_snoop_put_member(f, cin, "name", c->name);
		pds_snoop_put_member(f, cin, "cgroup", c->cgroup);
		pds_snoop_put_member(f, cin, "image", c->image);
		pds_snoop_put_member(f, cin, "image_digest", c->image_digest);
		fprintf(f,
			",\n      \"counts\": {\"events\": %" G_GUINT64_FORMAT
			", \"files\": %u, \"files_evicted\": %" G_GUINT64_FORMAT "}",
			c->events, files->len, pds_snoop_lru_get_evictions(c->files));
		fputs(",\n      \"files\": [", f);
		for (guint j = 0; j < files->len; j++)
			pds_snoop_put_file(f, g_ptr_array_index(files, j), j == 0);
		fputs(files->len > 0 ? "\n      ]\n    }" : "]\n    }", f);
	}
	fputs(containers->len > 0 ? "\n  ]\n}\n" : "]\n}\n", f);
}

typedef void (*PdsSnoopPutFunc)(gpointer data, FILE *f);

/* Temp file in the same directory, fsync, rename, fsync of the directory. */
static gboolean
pds_snoop_atomic_write(const char *path, PdsSnoopPutFunc put, gpointer data, GError **error)
{
	g_autofree gchar *dir = g_path_get_dirname(path);
	g_autofree gchar *base = g_path_get_basename(path);
	g_autofree gchar *tmp = g_strdup_printf("%s/.%s.XXXXXX", dir, base);
	FILE *f;
	int fd, dfd, err = 0;

	fd = g_mkstemp_full(tmp, O_WRONLY | O_CLOEXEC, 0644);
	if (fd < 0) {
		err = errno;
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(err),
			    "cannot write report %s: cannot create a file in %s: %s", path, dir,
			    g_strerror(err));
		return FALSE;
	}
	f = fdopen(fd, "w");
	if (f == NULL) {
		err = errno;
		close(fd);
	} else {
		put(data, f);
		if (fflush(f) != 0 || ferror(f))
			err = errno != 0 ? errno : EIO;
		else if (fsync(fileno(f)) != 0)
			err = errno;
		if (fclose(f) != 0 && err == 0)
			err = errno;
	}
	if (err == 0 && rename(tmp, path) != 0)
		err = errno;
	if (err != 0) {
		g_unlink(tmp);
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(err),
			    "cannot write report %s: %s", path, g_strerror(err));
		return FALSE;
	}
	/* The rename is only durable once the directory is synced. */
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return TRUE;
}

static void
pds_snoop_put_json(gpointer data, FILE *f)
{
	g_autoptr(JsonGenerator) gen = json_generator_new();
	g_autofree gchar *text = NULL;
	gsize len = 0;

	json_generator_set_root(gen, data);
	json_generator_set_pretty(gen, TRUE);
	text = json_generator_to_data(gen, &len);
	fwrite(text, 1, len, f);
	fputc('\n', f);
}

gboolean
pds_snoop_json_write_file(JsonNode *node, const char *path, GError **error)
{
	return pds_snoop_atomic_write(path, pds_snoop_put_json, node, error);
}

static void
pds_snoop_put_report(gpointer data, FILE *f)
{
	pds_snoop_report_put(data, f);
}

gboolean
pds_snoop_report_write(PdsSnoopReport *report, const char *path, GError **error)
{
	report->updated_us = g_get_real_time();
	return pds_snoop_atomic_write(path, pds_snoop_put_report, report, error);
}
