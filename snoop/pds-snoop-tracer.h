/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The kernel side seen from user space: loads and attaches the BPF programs
 * of pds-snoop.bpf.c and drains their ring buffer from the GLib main loop
 * (woken by the ring buffer's epoll fd past the fill threshold, and polled
 * on a timer below it).
 */
#pragma once

#include <glib.h>
#include <linux/types.h>

#include "pds-snoop-event.h"

G_BEGIN_DECLS

typedef struct {
	guint64 pod_cgroup_id;
	guint pod_level;
	guint64 self_cgroup_id; /* 0: none (snoop is not inside the pod cgroup) */
	guint self_level;
	guint32 self_tgid;
	gboolean dedup;
	guint64 dedup_size;
	guint64 ringbuf_size;
	guint64 wakeup_bytes;
	guint poll_ms;
	const char *btf_path; /* NULL: /sys/kernel/btf/vmlinux */
} PdsSnoopTracerConfig;

/* @size is the record's length; the event is valid during the call only. */
typedef void (*PdsSnoopEventFunc)(const struct pds_snoop_event *event,
				  gsize size,
				  gpointer user_data);

typedef struct _PdsSnoopTracer PdsSnoopTracer;

/* Opens, loads and attaches; probes the kernel lacks are left off and listed. */
PdsSnoopTracer *pds_snoop_tracer_new(const PdsSnoopTracerConfig *config,
				     PdsSnoopEventFunc func,
				     gpointer user_data,
				     GError **error);
void pds_snoop_tracer_free(PdsSnoopTracer *tracer);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PdsSnoopTracer, pds_snoop_tracer_free)

/* Reads whatever is in the ring buffer now. */
void pds_snoop_tracer_drain(PdsSnoopTracer *tracer);
/* Sum over CPUs of one enum pds_snoop_counter. */
guint64 pds_snoop_tracer_get_counter(PdsSnoopTracer *tracer, guint counter);
/* Probes switched off because this kernel lacks them (NULL-terminated). */
const char *const *pds_snoop_tracer_get_missing(PdsSnoopTracer *tracer);
/* FALSE once a program is found detached. */
gboolean pds_snoop_tracer_is_attached(PdsSnoopTracer *tracer);

G_END_DECLS
