/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "PdsSnoop"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <gio/gio.h>
#include <glib-unix.h>
#include <stdio.h>
#include <unistd.h>

#include "pds-fd-watch.h"
#include "pds-snoop-tracer.h"
#include "pds-snoop.skel.h"

typedef struct btf PdsBtf;
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PdsBtf, btf__free)

#define PDS_SNOOP_BTF_PATH "/sys/kernel/btf/vmlinux"

struct _PdsSnoopTracer {
	struct pds_snoop_bpf *skel;
	struct ring_buffer *rb;
	GPtrArray *links;   /* of struct bpf_link */
	GPtrArray *missing; /* of gchar*, NULL-terminated */
	guint epoll_source;
	guint poll_source;
	int ncpus;
	PdsSnoopEventFunc func;
	gpointer user_data;
};

static void
pds_snoop_link_free(gpointer link)
{
	bpf_link__destroy(link);
}

static int
pds_snoop_libbpf_print(enum libbpf_print_level level, const char *format, va_list args)
{
	g_autofree gchar *msg = g_strdup_vprintf(format, args);

	g_strchomp(msg);
	if (level == LIBBPF_WARN)
		g_message("libbpf: %s", msg);
	else
		g_debug("libbpf: %s", msg);
	return 0;
}

static int
pds_snoop_tracer_on_event(void *ctx, void *data, size_t size)
{
	PdsSnoopTracer *tracer = ctx;

	if (size < sizeof(struct pds_snoop_event))
		return 0;
	tracer->func(data, size, tracer->user_data);
	return 0;
}

static gboolean
pds_snoop_tracer_on_epoll(gint fd, GIOCondition condition, gpointer user_data)
{
	pds_snoop_tracer_drain(user_data);
	return G_SOURCE_CONTINUE;
}

static gboolean
pds_snoop_tracer_on_poll(gpointer user_data)
{
	pds_snoop_tracer_drain(user_data);
	return G_SOURCE_CONTINUE;
}

void
pds_snoop_tracer_drain(PdsSnoopTracer *tracer)
{
	int n = ring_buffer__consume(tracer->rb);

	if (n < 0)
		g_warning("cannot read the kernel ring buffer: %s", g_strerror(-n));
}

/* The tracepoint exists on this kernel when its BTF names its typedef. */
static gboolean
pds_snoop_kernel_has_tracepoint(struct btf *vmlinux, const char *name)
{
	g_autofree gchar *type = g_strdup_printf("btf_trace_%s", name);

	return btf__find_by_name_kind(vmlinux, type, BTF_KIND_TYPEDEF) >= 0;
}

void
pds_snoop_tracer_free(PdsSnoopTracer *tracer)
{
	if (tracer == NULL)
		return;
	g_clear_handle_id(&tracer->epoll_source, g_source_remove);
	g_clear_handle_id(&tracer->poll_source, g_source_remove);
	g_clear_pointer(&tracer->rb, ring_buffer__free);
	if (tracer->links != NULL)
		g_ptr_array_unref(tracer->links);
	g_clear_pointer(&tracer->skel, pds_snoop_bpf__destroy);
	if (tracer->missing != NULL)
		g_ptr_array_unref(tracer->missing);
	g_free(tracer);
}

PdsSnoopTracer *
pds_snoop_tracer_new(const PdsSnoopTracerConfig *config,
		     PdsSnoopEventFunc func,
		     gpointer user_data,
		     GError **error)
{
	g_autoptr(PdsSnoopTracer) tracer = g_new0(PdsSnoopTracer, 1);
	g_autoptr(PdsBtf) vmlinux = NULL;
	LIBBPF_OPTS(bpf_object_open_opts, open_opts);
	const char *btf_path = config->btf_path != NULL ? config->btf_path : PDS_SNOOP_BTF_PATH;
	struct {
		struct bpf_program *prog;
		const char *tracepoint;
		gboolean required;
	} probes[6];
	gboolean prepare_exec;
	int err;

	g_return_val_if_fail(config != NULL, NULL);
	g_return_val_if_fail(func != NULL, NULL);

	tracer->func = func;
	tracer->user_data = user_data;
	tracer->links = g_ptr_array_new_with_free_func(pds_snoop_link_free);
	tracer->missing = g_ptr_array_new_with_free_func(g_free);
	libbpf_set_print(pds_snoop_libbpf_print);

	if (access(btf_path, R_OK) != 0) {
		int e = errno;

		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(e),
			    "no kernel BTF at %s (%s): podscope-snoop needs a kernel built with "
			    "CONFIG_DEBUG_INFO_BTF=y, or the kernel's BTF file given with "
			    "SNOOP_BTF/--btf",
			    btf_path, g_strerror(e));
		return NULL;
	}
	vmlinux = btf__parse(btf_path, NULL);
	if (vmlinux == NULL) {
		int e = errno;

		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(e),
			    "cannot read the kernel BTF %s: %s", btf_path, g_strerror(e));
		return NULL;
	}

	open_opts.btf_custom_path = config->btf_path;
	tracer->skel = pds_snoop_bpf__open_opts(&open_opts);
	if (tracer->skel == NULL) {
		int e = errno;

		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(e),
			    "cannot open the BPF object: %s", g_strerror(e));
		return NULL;
	}
	tracer->skel->rodata->pod_cgroup_id = config->pod_cgroup_id;
	tracer->skel->rodata->pod_level = config->pod_level;
	tracer->skel->rodata->self_cgroup_id = config->self_cgroup_id;
	tracer->skel->rodata->self_level = config->self_level;
	tracer->skel->rodata->self_tgid = config->self_tgid;
	tracer->skel->rodata->dedup_enabled = config->dedup ? 1 : 0;
	tracer->skel->rodata->wakeup_bytes = config->wakeup_bytes;
	bpf_map__set_max_entries(tracer->skel->maps.events, (__u32)config->ringbuf_size);
	bpf_map__set_max_entries(tracer->skel->maps.dedup, (__u32)config->dedup_size);

	/*
	 * Exec's arguments are taken at sched_prepare_exec where the kernel has
	 * it; only older kernels need a sys_enter program, which runs for every
	 * syscall of the machine.
	 */
	prepare_exec = pds_snoop_kernel_has_tracepoint(vmlinux, "sched_prepare_exec");
	probes[0].prog = tracer->skel->progs.pds_sys_exit;
	probes[0].tracepoint = "sys_exit";
	probes[0].required = TRUE;
	probes[1].prog = prepare_exec ? tracer->skel->progs.pds_exec_prepare
				      : tracer->skel->progs.pds_sys_enter;
	probes[1].tracepoint = prepare_exec ? "sched_prepare_exec" : "sys_enter";
	probes[1].required = TRUE;
	probes[2].prog = tracer->skel->progs.pds_exec;
	probes[2].tracepoint = "sched_process_exec";
	probes[2].required = FALSE;
	probes[3].prog = tracer->skel->progs.pds_io_uring_submit;
	probes[3].tracepoint = "io_uring_submit_req";
	probes[3].required = FALSE;
	probes[5].prog = tracer->skel->progs.pds_io_uring_complete;
	probes[5].tracepoint = "io_uring_complete";
	probes[5].required = FALSE;
	/* The one of the pair not used: never loaded. */
	probes[4].prog = prepare_exec ? tracer->skel->progs.pds_sys_enter
				      : tracer->skel->progs.pds_exec_prepare;
	probes[4].tracepoint = NULL;
	probes[4].required = FALSE;
	bpf_program__set_autoload(probes[4].prog, false);
	if (!prepare_exec)
		g_message("this kernel has no sched_prepare_exec tracepoint (Linux 6.10): exec "
			  "is followed from sys_enter, which every syscall pays for");

	for (guint i = 0; i < G_N_ELEMENTS(probes); i++) {
		if (probes[i].tracepoint == NULL)
			continue;
		if (pds_snoop_kernel_has_tracepoint(vmlinux, probes[i].tracepoint))
			continue;
		if (probes[i].required) {
			g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
				    "this kernel has no %s tracepoint in its BTF: podscope-snoop "
				    "cannot trace syscalls here",
				    probes[i].tracepoint);
			return NULL;
		}
		g_message("this kernel has no %s tracepoint: that probe is off",
			  probes[i].tracepoint);
		bpf_program__set_autoload(probes[i].prog, false);
		g_ptr_array_add(tracer->missing, g_strdup(probes[i].tracepoint));
	}

	/* io_uring opens are reported at completion when both ends are there, else at submit. */
	if (!bpf_program__autoload(probes[3].prog))
		bpf_program__set_autoload(probes[5].prog, false);
	tracer->skel->rodata->uring_complete =
		bpf_program__autoload(probes[3].prog) && bpf_program__autoload(probes[5].prog);

	err = pds_snoop_bpf__load(tracer->skel);
	if (err != 0) {
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(-err),
			    "cannot load the BPF programs: %s (snoop needs CAP_BPF, CAP_PERFMON "
			    "and enough locked memory; run with -v for the verifier log)",
			    g_strerror(-err));
		return NULL;
	}
	for (guint i = 0; i < G_N_ELEMENTS(probes); i++) {
		struct bpf_link *link;

		if (probes[i].tracepoint == NULL || !bpf_program__autoload(probes[i].prog))
			continue;
		link = bpf_program__attach(probes[i].prog);
		if (link == NULL) {
			int e = errno;

			if (probes[i].required) {
				g_set_error(error, G_IO_ERROR, g_io_error_from_errno(e),
					    "cannot attach to the %s tracepoint: %s",
					    probes[i].tracepoint, g_strerror(e));
				return NULL;
			}
			g_message("cannot attach to the %s tracepoint (%s): that probe is off",
				  probes[i].tracepoint, g_strerror(e));
			g_ptr_array_add(tracer->missing, g_strdup(probes[i].tracepoint));
			continue;
		}
		g_ptr_array_add(tracer->links, link);
	}
	g_ptr_array_add(tracer->missing, NULL);

	tracer->rb = ring_buffer__new(bpf_map__fd(tracer->skel->maps.events),
				      pds_snoop_tracer_on_event, tracer, NULL);
	if (tracer->rb == NULL) {
		int e = errno;

		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(e),
			    "cannot map the kernel ring buffer: %s", g_strerror(e));
		return NULL;
	}
	tracer->ncpus = libbpf_num_possible_cpus();
	if (tracer->ncpus <= 0)
		tracer->ncpus = 1;
	tracer->epoll_source = pds_fd_watch_add(ring_buffer__epoll_fd(tracer->rb), G_IO_IN,
						pds_snoop_tracer_on_epoll, tracer);
	tracer->poll_source = g_timeout_add(config->poll_ms > 0 ? config->poll_ms : 100,
					    pds_snoop_tracer_on_poll, tracer);
	return g_steal_pointer(&tracer);
}

guint64
pds_snoop_tracer_get_counter(PdsSnoopTracer *tracer, guint counter)
{
	g_autofree guint64 *values = g_new0(guint64, tracer->ncpus);
	guint32 key = counter;
	guint64 sum = 0;

	if (bpf_map__lookup_elem(tracer->skel->maps.stats, &key, sizeof(key), values,
				 sizeof(guint64) * tracer->ncpus, 0) != 0)
		return 0;
	for (int i = 0; i < tracer->ncpus; i++)
		sum += values[i];
	return sum;
}

const char *const *
pds_snoop_tracer_get_missing(PdsSnoopTracer *tracer)
{
	return (const char *const *)tracer->missing->pdata;
}

gboolean
pds_snoop_tracer_is_attached(PdsSnoopTracer *tracer)
{
	/* Each link keeps its program attached while its fd is open. */
	for (guint i = 0; i < tracer->links->len; i++) {
		struct bpf_link *link = g_ptr_array_index(tracer->links, i);
		struct bpf_link_info info = {0};
		__u32 len = sizeof(info);

		if (bpf_obj_get_info_by_fd(bpf_link__fd(link), &info, &len) != 0)
			return FALSE;
	}
	return tracer->links->len >= 2;
}
