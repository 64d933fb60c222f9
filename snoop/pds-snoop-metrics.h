/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Prometheus /metrics and /healthz on libsoup 3. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Appends the exposition text of the owner's metrics to @out. */
typedef void (*PdsSnoopMetricsRender)(GString *out, gpointer user_data);
/* TRUE when healthy; otherwise *reason says why (owned by the callee). */
typedef gboolean (*PdsSnoopHealthCheck)(const char **reason, gpointer user_data);

typedef struct _PdsSnoopMetrics PdsSnoopMetrics;

/* Listens on @address ("ADDR:PORT", port 0 picks one). */
PdsSnoopMetrics *pds_snoop_metrics_new(const char *address,
				       PdsSnoopMetricsRender render,
				       PdsSnoopHealthCheck health,
				       gpointer user_data,
				       GError **error);
void pds_snoop_metrics_free(PdsSnoopMetrics *metrics);
guint16 pds_snoop_metrics_get_port(PdsSnoopMetrics *metrics);
/* Process CPU seconds and resident bytes, appended as Prometheus text. */
void pds_snoop_metrics_append_process(GString *out);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(PdsSnoopMetrics, pds_snoop_metrics_free)

G_END_DECLS
