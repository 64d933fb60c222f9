/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "PdsSnoop"

#include <string.h>

#include "pds-snoop-path.h"

/* Appends the components of @p to out[0..*len), applying "." and "..". */
static gboolean
pds_snoop_path_push(const char *p, char *out, gsize size, gsize *len)
{
	while (*p != '\0') {
		const char *c;
		gsize n;

		while (*p == '/')
			p++;
		c = p;
		while (*p != '\0' && *p != '/')
			p++;
		n = p - c;
		if (n == 0 || (n == 1 && c[0] == '.'))
			continue;
		if (n == 2 && c[0] == '.' && c[1] == '.') {
			/* ".." at the root stays at the root, as the kernel does. */
			while (*len > 0 && out[*len - 1] != '/')
				(*len)--;
			if (*len > 0)
				(*len)--;
			continue;
		}
		if (*len + 1 + n + 1 > size)
			return FALSE;
		out[(*len)++] = '/';
		memcpy(out + *len, c, n);
		*len += n;
	}
	return TRUE;
}

gssize
pds_snoop_path_normalize_to(const char *base, const char *path, char *out, gsize size)
{
	gsize len = 0;

	g_return_val_if_fail(path != NULL, -1);
	g_return_val_if_fail(out != NULL && size >= 2, -1);

	/* One pass over the bytes, no allocation: this runs for every event. */
	if (path[0] != '/') {
		if (base == NULL || base[0] != '/')
			return -1;
		if (!pds_snoop_path_push(base, out, size, &len))
			return -1;
	}
	if (!pds_snoop_path_push(path, out, size, &len))
		return -1;
	if (len == 0)
		out[len++] = '/';
	out[len] = '\0';
	return (gssize)len;
}

gchar *
pds_snoop_path_normalize(const char *base, const char *path)
{
	gsize size;
	gchar *out;

	g_return_val_if_fail(path != NULL, NULL);

	size = strlen(path) + (base != NULL ? strlen(base) : 0) + 3;
	out = g_malloc(size);
	if (pds_snoop_path_normalize_to(base, path, out, size) < 0)
		g_clear_pointer(&out, g_free);
	return out;
}

gboolean
pds_snoop_path_has_prefix(const char *path, const char *prefix)
{
	gsize n = strlen(prefix);

	while (n > 1 && prefix[n - 1] == '/')
		n--;
	if (n == 1 && prefix[0] == '/')
		return path[0] == '/';
	if (strncmp(path, prefix, n) != 0)
		return FALSE;
	return path[n] == '\0' || path[n] == '/';
}

gboolean
pds_snoop_path_is_excluded(const char *path, const char *const *prefixes)
{
	if (prefixes == NULL)
		return FALSE;
	for (guint i = 0; prefixes[i] != NULL; i++) {
		if (pds_snoop_path_has_prefix(path, prefixes[i]))
			return TRUE;
	}
	return FALSE;
}
