// SPDX-License-Identifier: GPL-2.0-only
/*
 * podscope-snoop, kernel side: file accesses of the pod's containers.
 *
 * fentry/fexit, LSM and kprobes are unavailable on the kernels we target, so
 * every syscall is seen from the raw sys_enter/sys_exit tracepoints (which
 * also see 32-bit compat calls and need no tracefs), io_uring opens from
 * io_uring_submit_req and what exec loads by itself from sched_process_exec.
 *
 * Arguments are saved at entry and the path is read at exit, when its page
 * has been faulted in by the syscall itself; the entry copy is the fallback.
 * Relative paths are resolved here, at exit, by walking the dentries of the
 * cwd or dirfd, because user space is often too late (the process is gone).
 * Repeated accesses are absorbed by an LRU hash so that only new paths cost a
 * ring buffer record.
 *
 * The licence is GPL because the probe-read helpers are GPL-only.
 */
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "pds-snoop-event.h"

#define PDS_AT_FDCWD		 -100
#define PDS_AT_SYMLINK_NOFOLLOW	 0x100
#define PDS_TS_COMPAT		 0x0002 /* arch/x86: thread_info.status of a 32-bit syscall */
#define PDS_O_CREAT_WRONLY_TRUNC 01101
#define PDS_AT_BASE		 7 /* auxv: load address of the ELF interpreter */
#define PDS_WALK_DEPTH		 64
#define PDS_NAME_MAX		 255
#define PDS_PATH_MASK		 (PDS_SNOOP_PATH_MAX - 1)

char LICENSE[] SEC("license") = "GPL";

/* Set by the user side before load. */
const volatile __u64 pod_cgroup_id = 0;
const volatile __u32 pod_level = 0;
const volatile __u64 self_cgroup_id = 0;
const volatile __u32 self_level = 0;
const volatile __u32 self_tgid = 0;
const volatile __u8 dedup_enabled = 1;
const volatile __u64 wakeup_bytes = 0; /* 0: wake the consumer on every record */

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 * 1024 * 1024);
} events SEC(".maps");

struct pds_pending {
	__u64 path_ptr;
	__s32 dirfd;
	__u32 syscall;
	__u32 flags;
	__u32 mode;
	__u32 status;
	__u16 entry_len;
	__u16 active; /* set at entry, cleared when the exit was handled */
	char entry_path[PDS_SNOOP_ENTRY_PATH_MAX];
};

/*
 * Per-task storage, not a hash keyed by thread id: no update or delete on the
 * hot path, and the exec'ing thread keeps its storage when it takes over the
 * thread-group leader's id.
 */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct pds_pending);
} pending SEC(".maps");

struct pds_dedup_key {
	__u64 cgroup_id;
	__u64 base_id;
	__u64 hash;
	__u32 syscall;
	__u32 ok;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct pds_dedup_key);
	__type(value, __u8);
} dedup SEC(".maps");

/*
 * The dirfd directory of an execveat(), walked at entry: by the time the new
 * image runs, exec has closed close-on-exec descriptors.
 */
struct pds_exec_base {
	__u64 base_id;
	__u32 len;
	__u32 truncated;
	char path[PDS_SNOOP_PATH_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, struct pds_exec_base);
} exec_base SEC(".maps");

/*
 * Strings are copied to masked offsets of the data area (the verifier needs
 * bounds it can see): the area covers the largest masked offset plus the
 * largest masked length, more than PDS_SNOOP_EVENT_DATA_MAX ever uses.
 */
#define PDS_OFF_MASK 0x3fff
#define PDS_LEN_MASK 0x1fff
#define PDS_REC_SIZE (sizeof(struct pds_snoop_event) + PDS_OFF_MASK + PDS_LEN_MASK + 2)

/* v & mask, kept even where the compiler can prove it a no-op: the verifier cannot. */
static __always_inline __u32
pds_mask(__u32 v, __u32 mask)
{
	barrier_var(v);
	return v & mask;
}

struct pds_scratch {
	__u8 rec[PDS_REC_SIZE];
	char walk[PDS_SNOOP_PATH_MAX + PDS_NAME_MAX + 1];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pds_scratch);
} scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PDS_SNOOP_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

static __always_inline void
pds_count(__u32 counter)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &counter);

	if (v)
		*v += 1;
}

static __always_inline bool
pds_traced(void)
{
	if (self_tgid && (bpf_get_current_pid_tgid() >> 32) == self_tgid)
		return false;
	if (bpf_get_current_ancestor_cgroup_id(pod_level) != pod_cgroup_id)
		return false;
	if (self_cgroup_id && bpf_get_current_ancestor_cgroup_id(self_level) == self_cgroup_id)
		return false;
	return true;
}

static __always_inline __u32
pds_syscall_64(long id)
{
	switch (id) {
	case 2:
		return PDS_SNOOP_SC_OPEN;
	case 85:
		return PDS_SNOOP_SC_CREAT;
	case 257:
		return PDS_SNOOP_SC_OPENAT;
	case 437:
		return PDS_SNOOP_SC_OPENAT2;
	case 59:
		return PDS_SNOOP_SC_EXECVE;
	case 322:
		return PDS_SNOOP_SC_EXECVEAT;
	case 4:
		return PDS_SNOOP_SC_STAT;
	case 6:
		return PDS_SNOOP_SC_LSTAT;
	case 262:
		return PDS_SNOOP_SC_NEWFSTATAT;
	case 332:
		return PDS_SNOOP_SC_STATX;
	case 21:
		return PDS_SNOOP_SC_ACCESS;
	case 269:
		return PDS_SNOOP_SC_FACCESSAT;
	case 439:
		return PDS_SNOOP_SC_FACCESSAT2;
	case 89:
		return PDS_SNOOP_SC_READLINK;
	case 267:
		return PDS_SNOOP_SC_READLINKAT;
	}
	return 0;
}

/* arch/x86/entry/syscalls/syscall_32.tbl */
static __always_inline __u32
pds_syscall_32(long id)
{
	switch (id) {
	case 5:
		return PDS_SNOOP_SC_OPEN;
	case 8:
		return PDS_SNOOP_SC_CREAT;
	case 295:
		return PDS_SNOOP_SC_OPENAT;
	case 437:
		return PDS_SNOOP_SC_OPENAT2;
	case 11:
		return PDS_SNOOP_SC_EXECVE;
	case 358:
		return PDS_SNOOP_SC_EXECVEAT;
	case 18:
		return PDS_SNOOP_SC_OLDSTAT;
	case 84:
		return PDS_SNOOP_SC_OLDLSTAT;
	case 106:
		return PDS_SNOOP_SC_STAT;
	case 107:
		return PDS_SNOOP_SC_LSTAT;
	case 195:
		return PDS_SNOOP_SC_STAT64;
	case 196:
		return PDS_SNOOP_SC_LSTAT64;
	case 300:
		return PDS_SNOOP_SC_FSTATAT64;
	case 383:
		return PDS_SNOOP_SC_STATX;
	case 33:
		return PDS_SNOOP_SC_ACCESS;
	case 307:
		return PDS_SNOOP_SC_FACCESSAT;
	case 439:
		return PDS_SNOOP_SC_FACCESSAT2;
	case 85:
		return PDS_SNOOP_SC_READLINK;
	case 305:
		return PDS_SNOOP_SC_READLINKAT;
	}
	return 0;
}

static __always_inline bool
pds_is_compat(struct task_struct *task)
{
	return (task->thread_info.status & PDS_TS_COMPAT) != 0;
}

static __always_inline __u64
pds_arg(struct pt_regs *regs, bool compat, int i)
{
	if (compat) {
		/* int $0x80 / sysenter: ebx, ecx, edx, esi, edi */
		switch (i) {
		case 0:
			return regs->bx & 0xffffffffu;
		case 1:
			return regs->cx & 0xffffffffu;
		case 2:
			return regs->dx & 0xffffffffu;
		case 3:
			return regs->si & 0xffffffffu;
		default:
			return regs->di & 0xffffffffu;
		}
	}
	switch (i) {
	case 0:
		return regs->di;
	case 1:
		return regs->si;
	case 2:
		return regs->dx;
	case 3:
		return regs->r10;
	default:
		return regs->r8;
	}
}

static __always_inline struct file *
pds_fd_file(struct task_struct *task, long fd)
{
	struct fdtable *fdt;
	struct file **arr;
	struct file *file = NULL;
	unsigned int max_fds;

	if (fd < 0)
		return NULL;
	fdt = BPF_CORE_READ(task, files, fdt);
	if (!fdt)
		return NULL;
	max_fds = BPF_CORE_READ(fdt, max_fds);
	if ((unsigned long)fd >= max_fds)
		return NULL;
	arr = BPF_CORE_READ(fdt, fd);
	bpf_probe_read_kernel(&file, sizeof(file), arr + fd);
	return file;
}

struct pds_walk_ctx {
	struct pds_scratch *s;
	struct vfsmount *vfsmnt;
	struct mount *mnt;
	struct dentry *dentry;
	struct dentry *root_dentry;
	struct vfsmount *root_mnt;
	__u32 pos;
	__u8 done;
	__u8 truncated;
};

/* One path component per call, written backwards into s->walk. */
static long
pds_walk_step(__u32 i, struct pds_walk_ctx *c)
{
	struct dentry *dentry = c->dentry;
	struct vfsmount *vfsmnt = c->vfsmnt;
	struct mount *mnt = c->mnt;
	struct dentry *mnt_root, *parent;
	const unsigned char *name;
	__u32 name_len, pos = c->pos;

	if (dentry == c->root_dentry && vfsmnt == c->root_mnt) {
		c->done = 1;
		return 1;
	}
	mnt_root = BPF_CORE_READ(vfsmnt, mnt_root);
	parent = BPF_CORE_READ(dentry, d_parent);
	if (dentry == mnt_root || dentry == parent) {
		struct mount *mnt_parent = BPF_CORE_READ(mnt, mnt_parent);

		if (mnt_parent == mnt || !mnt_parent) {
			c->done = 1;
			return 1;
		}
		c->dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
		c->mnt = mnt_parent;
		c->vfsmnt = &mnt_parent->mnt;
		return 0;
	}
	name = BPF_CORE_READ(dentry, d_name.name);
	name_len = BPF_CORE_READ(dentry, d_name.len);
	if (name_len > PDS_NAME_MAX)
		name_len = PDS_NAME_MAX;
	if (name_len + 1 > pos || pos > PDS_SNOOP_PATH_MAX - 1) {
		c->truncated = 1;
		c->done = 1;
		return 1;
	}
	pos -= name_len;
	bpf_probe_read_kernel(&c->s->walk[pos & PDS_PATH_MASK], name_len & PDS_NAME_MAX, name);
	pos -= 1;
	c->s->walk[pos & PDS_PATH_MASK] = '/';
	c->pos = pos;
	c->dentry = parent;
	return 0;
}

/*
 * Writes the path of (@vfsmnt, @dentry) as the task sees it (up to its root)
 * at the end of s->walk. Returns the offset of the first byte; *len counts
 * the NUL. Mount points are crossed through struct mount.
 */
static __always_inline __u32
pds_walk(struct pds_scratch *s,
	 struct task_struct *task,
	 struct vfsmount *vfsmnt,
	 struct dentry *dentry,
	 __u32 *len,
	 bool *truncated)
{
	struct pds_walk_ctx c = {
		.s = s,
		.vfsmnt = vfsmnt,
		.mnt = container_of(vfsmnt, struct mount, mnt),
		.dentry = dentry,
		.root_dentry = BPF_CORE_READ(task, fs, root.dentry),
		.root_mnt = BPF_CORE_READ(task, fs, root.mnt),
		.pos = PDS_SNOOP_PATH_MAX - 1,
	};
	__u32 pos;

	s->walk[PDS_SNOOP_PATH_MAX - 1] = 0;
	bpf_loop(PDS_WALK_DEPTH, pds_walk_step, &c, 0);
	*truncated = c.truncated || !c.done;
	pos = c.pos;
	if (pos > PDS_SNOOP_PATH_MAX - 1)
		pos = PDS_SNOOP_PATH_MAX - 1;
	if (pos == PDS_SNOOP_PATH_MAX - 1) {
		pos -= 1;
		s->walk[pos & PDS_PATH_MASK] = '/';
	}
	*len = PDS_SNOOP_PATH_MAX - pos;
	return pos;
}

/* Appends the walked path of @path at @off of the data area; returns the bytes used. */
static __always_inline __u32
pds_append_walk(struct pds_scratch *s,
		struct task_struct *task,
		const struct path *path,
		__u32 off,
		bool *truncated)
{
	struct vfsmount *vfsmnt = BPF_CORE_READ(path, mnt);
	struct dentry *dentry = BPF_CORE_READ(path, dentry);
	__u8 *data = s->rec + sizeof(struct pds_snoop_event);
	__u32 pos, len = 0;

	if (!vfsmnt || !dentry)
		return 0;
	pos = pds_walk(s, task, vfsmnt, dentry, &len, truncated);
	/* off <= 2 * PDS_SNOOP_PATH_MAX; the masks below are for the verifier. */
	if (len > PDS_SNOOP_PATH_MAX)
		len = PDS_SNOOP_PATH_MAX;
	bpf_probe_read_kernel(data + pds_mask(off, PDS_OFF_MASK), pds_mask(len, PDS_LEN_MASK),
			      &s->walk[pos & PDS_PATH_MASK]);
	return len;
}

struct pds_hash_ctx {
	__u8 *buf;
	__u32 len;
	__u64 hash;
};

static long
pds_hash_step(__u32 i, struct pds_hash_ctx *c)
{
	__u32 off = i * 8;
	__u64 word = 0;

	if (off >= c->len)
		return 1;
	/* A direct load from the map value: no helper call per word. */
	word = *(__u64 *)(c->buf + pds_mask(off, PDS_SNOOP_PATH_MAX - 1));
	if (c->len - off < 8)
		word &= (1ULL << ((c->len - off) * 8)) - 1;
	c->hash = (c->hash ^ word) * 0x100000001b3ULL;
	c->hash ^= c->hash >> 29;
	return 0;
}

static __always_inline __u64
pds_hash(__u8 *buf, __u32 len)
{
	struct pds_hash_ctx c = {.buf = buf, .len = len, .hash = 0xcbf29ce484222325ULL};

	bpf_loop((len + 7) / 8, pds_hash_step, &c, 0);
	return c.hash;
}

static __always_inline struct pds_scratch *
pds_scratch_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&scratch, &zero);
}

static __always_inline struct pds_snoop_event *
pds_begin(struct pds_scratch *s, __u32 syscall, __u32 status, __u32 flags, __u32 mode, __s32 dirfd)
{
	struct pds_snoop_event *ev = (struct pds_snoop_event *)s->rec;
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u64 cgroup_id = bpf_get_current_cgroup_id();
	__u64 container = bpf_get_current_ancestor_cgroup_id(pod_level + 1);

	ev->cgroup_id = cgroup_id;
	ev->container_cgroup_id = container ? container : cgroup_id;
	ev->result = 0;
	ev->pid = (__u32)pid_tgid;
	ev->tgid = pid_tgid >> 32;
	ev->syscall = syscall;
	ev->status = status;
	ev->flags = flags;
	ev->mode = mode;
	ev->dirfd = dirfd;
	ev->path_len = 0;
	ev->base_len = 0;
	ev->resolved_len = 0;
	ev->reserved = 0;
	ev->reserved2 = 0;
	return ev;
}

/* TRUE when this access was seen already (and counts it); remembers it otherwise. */
static __always_inline bool
pds_dedup_seen(struct pds_scratch *s, __u64 base_id)
{
	struct pds_snoop_event *ev = (struct pds_snoop_event *)s->rec;
	__u8 *data = s->rec + sizeof(struct pds_snoop_event);
	struct pds_dedup_key key = {};
	__u32 path_len = ev->path_len;
	__u8 one = 1;

	if (!dedup_enabled)
		return false;
	if (path_len > PDS_SNOOP_PATH_MAX)
		path_len = PDS_SNOOP_PATH_MAX;
	key.cgroup_id = ev->container_cgroup_id;
	key.base_id = base_id;
	key.hash = pds_hash(data, path_len);
	key.syscall = ev->syscall;
	key.ok = (ev->status & PDS_SNOOP_ST_HAS_RESULT) ? ev->result >= 0 : 2;
	if (bpf_map_lookup_elem(&dedup, &key)) {
		pds_count(PDS_SNOOP_CNT_DEDUP_HITS);
		return true;
	}
	bpf_map_update_elem(&dedup, &key, &one, BPF_ANY);
	return false;
}

/*
 * The requested path is in place (ev->path_len set): resolve its base,
 * deduplicate, add the path of @result_file and send the record.
 */
static __always_inline int
pds_finish(struct pds_scratch *s,
	   struct task_struct *task,
	   struct file *result_file,
	   long result_fd)
{
	struct pds_snoop_event *ev = (struct pds_snoop_event *)s->rec;
	__u8 *data = s->rec + sizeof(struct pds_snoop_event);
	__u32 path_len = ev->path_len;
	__u32 base_len = 0, resolved_len = 0;
	__u64 base_id = 0, size, flags = 0;
	bool truncated = false, deduped = false;

	barrier_var(path_len);
	if (path_len == 0 || path_len > PDS_SNOOP_PATH_MAX)
		return 0;
	if (ev->syscall == PDS_SNOOP_SC_EXECVEAT && ev->dirfd != PDS_AT_FDCWD) {
		/*
		 * Always attached: without the entry copy the name is
		 * bprm->filename, "/dev/fd/N/name", resolved in user space.
		 */
		__u32 tid = ev->pid;
		struct pds_exec_base *eb = bpf_map_lookup_elem(&exec_base, &tid);

		if (eb) {
			base_len = eb->len;
			if (base_len > PDS_SNOOP_PATH_MAX)
				base_len = PDS_SNOOP_PATH_MAX;
			bpf_probe_read_kernel(data + pds_mask(path_len, PDS_OFF_MASK),
					      pds_mask(base_len, PDS_LEN_MASK), eb->path);
			base_id = eb->base_id;
			truncated = eb->truncated;
			bpf_map_delete_elem(&exec_base, &tid);
		}
		if (base_len) {
			ev->status |= PDS_SNOOP_ST_HAS_BASE;
			if (truncated)
				ev->status |= PDS_SNOOP_ST_BASE_TRUNCATED;
		} else {
			ev->status |= PDS_SNOOP_ST_UNRESOLVED;
		}
	} else if (data[0] != '/') {
		const struct path *base = NULL;

		if (ev->dirfd == PDS_AT_FDCWD) {
			base = &task->fs->pwd;
		} else {
			struct file *dir = pds_fd_file(task, ev->dirfd);

			if (dir)
				base = &dir->f_path;
		}
		/* The dentry stands for the directory in the dedup key; walked only if new. */
		if (base)
			base_id = (__u64)BPF_CORE_READ(base, dentry);
		if (pds_dedup_seen(s, base_id))
			return 0;
		if (base)
			base_len = pds_append_walk(s, task, base, path_len, &truncated);
		if (base_len) {
			ev->status |= PDS_SNOOP_ST_HAS_BASE;
			if (truncated)
				ev->status |= PDS_SNOOP_ST_BASE_TRUNCATED;
		} else {
			ev->status |= PDS_SNOOP_ST_UNRESOLVED;
		}
		deduped = true;
	}
	if (!deduped && pds_dedup_seen(s, base_id))
		return 0;

	ev->ts_boot_ns = bpf_ktime_get_boot_ns();
	bpf_get_current_comm(ev->comm, sizeof(ev->comm));
	/* Only new accesses pay for the fd table lookup. */
	if (!result_file && result_fd >= 0)
		result_file = pds_fd_file(task, result_fd);
	if (result_file) {
		__u32 off = path_len + base_len;

		resolved_len = pds_append_walk(s, task, &result_file->f_path, off, &truncated);
		if (resolved_len) {
			ev->status |= PDS_SNOOP_ST_HAS_RESOLVED;
			if (truncated)
				ev->status |= PDS_SNOOP_ST_RESOLVED_TRUNCATED;
		}
	}
	ev->base_len = base_len;
	ev->resolved_len = resolved_len;

	size = sizeof(struct pds_snoop_event) + path_len + base_len + resolved_len;
	/* Keep the bound check on the register the helper gets. */
	barrier_var(size);
	if (size > PDS_REC_SIZE)
		return 0;
	if (wakeup_bytes) {
		flags = BPF_RB_NO_WAKEUP;
		if (bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes)
			flags = BPF_RB_FORCE_WAKEUP;
	}
	if (bpf_ringbuf_output(&events, s->rec, size, flags) < 0)
		pds_count(PDS_SNOOP_CNT_LOST);
	else
		pds_count(PDS_SNOOP_CNT_EMITTED);
	return 0;
}

/* Copies a kernel string as the requested path. */
static __always_inline bool
pds_path_kernel(struct pds_scratch *s, const char *kpath)
{
	struct pds_snoop_event *ev = (struct pds_snoop_event *)s->rec;
	__u8 *data = s->rec + sizeof(struct pds_snoop_event);
	long n;

	n = bpf_probe_read_kernel_str(data, PDS_SNOOP_PATH_MAX, kpath);
	if (n <= 0)
		return false;
	if (n >= PDS_SNOOP_PATH_MAX)
		ev->status |= PDS_SNOOP_ST_TRUNCATED;
	ev->path_len = n;
	return true;
}

SEC("tp_btf/sys_enter")
int
BPF_PROG(pds_sys_enter, struct pt_regs *regs, long id)
{
	struct task_struct *task = bpf_get_current_task_btf();
	bool compat = pds_is_compat(task);
	__u32 sc = compat ? pds_syscall_32(id) : pds_syscall_64(id);
	struct pds_scratch *s;
	struct pds_pending *p;
	__u32 tid;
	long n;
	int path_arg = 1;

	if (!sc || !pds_traced())
		return 0;
	p = bpf_task_storage_get(&pending, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!p)
		return 0;
	p->syscall = sc;
	p->status = compat ? PDS_SNOOP_ST_COMPAT : 0;
	p->flags = 0;
	p->mode = 0;
	p->dirfd = PDS_AT_FDCWD;
	switch (sc) {
	case PDS_SNOOP_SC_OPEN:
		path_arg = 0;
		p->flags = pds_arg(regs, compat, 1);
		p->mode = pds_arg(regs, compat, 2);
		break;
	case PDS_SNOOP_SC_CREAT:
		path_arg = 0;
		p->flags = PDS_O_CREAT_WRONLY_TRUNC;
		p->mode = pds_arg(regs, compat, 1);
		break;
	case PDS_SNOOP_SC_OPENAT:
		p->flags = pds_arg(regs, compat, 2);
		p->mode = pds_arg(regs, compat, 3);
		break;
	case PDS_SNOOP_SC_OPENAT2: {
		struct open_how how = {};

		if (bpf_probe_read_user(&how, sizeof(how), (void *)pds_arg(regs, compat, 2)) == 0) {
			p->flags = how.flags;
			p->mode = how.mode;
		}
		break;
	}
	case PDS_SNOOP_SC_EXECVEAT:
		p->flags = pds_arg(regs, compat, 4);
		break;
	case PDS_SNOOP_SC_LSTAT:
	case PDS_SNOOP_SC_LSTAT64:
	case PDS_SNOOP_SC_OLDLSTAT:
		path_arg = 0;
		p->flags = PDS_AT_SYMLINK_NOFOLLOW;
		break;
	case PDS_SNOOP_SC_NEWFSTATAT:
	case PDS_SNOOP_SC_FSTATAT64:
	case PDS_SNOOP_SC_FACCESSAT2:
		p->flags = pds_arg(regs, compat, 3);
		if (sc == PDS_SNOOP_SC_FACCESSAT2)
			p->mode = pds_arg(regs, compat, 2);
		break;
	case PDS_SNOOP_SC_STATX:
		p->flags = pds_arg(regs, compat, 2);
		break;
	case PDS_SNOOP_SC_ACCESS:
		path_arg = 0;
		p->mode = pds_arg(regs, compat, 1);
		break;
	case PDS_SNOOP_SC_FACCESSAT:
		p->mode = pds_arg(regs, compat, 2);
		break;
	case PDS_SNOOP_SC_EXECVE:
	case PDS_SNOOP_SC_STAT:
	case PDS_SNOOP_SC_STAT64:
	case PDS_SNOOP_SC_OLDSTAT:
	case PDS_SNOOP_SC_READLINK:
		path_arg = 0;
		break;
	default:
		break;
	}
	if (path_arg == 1)
		p->dirfd = (__s32)pds_arg(regs, compat, 0);
	p->path_ptr = pds_arg(regs, compat, path_arg);
	n = bpf_probe_read_user_str(p->entry_path, sizeof(p->entry_path), (void *)p->path_ptr);
	p->entry_len = n > 0 ? n : 0;
	p->active = 1;

	/* Also when the entry copy failed: a forked child's .rodata may not be mapped yet. */
	if (sc == PDS_SNOOP_SC_EXECVEAT && p->dirfd != PDS_AT_FDCWD &&
	    (p->entry_len == 0 || p->entry_path[0] != '/')) {
		struct file *dir = pds_fd_file(task, p->dirfd);
		struct pds_exec_base *eb;
		bool truncated = false;
		__u32 pos, len = 0;

		s = pds_scratch_get();
		if (!dir || !s)
			return 0;
		eb = (struct pds_exec_base *)s->rec;
		tid = (__u32)bpf_get_current_pid_tgid();
		pos = pds_walk(s, task, BPF_CORE_READ(dir, f_path.mnt),
			       BPF_CORE_READ(dir, f_path.dentry), &len, &truncated);
		if (len > PDS_SNOOP_PATH_MAX)
			len = PDS_SNOOP_PATH_MAX;
		bpf_probe_read_kernel(eb->path, len, &s->walk[pos & PDS_PATH_MASK]);
		eb->len = len;
		eb->truncated = truncated;
		eb->base_id = (__u64)BPF_CORE_READ(dir, f_path.dentry);
		bpf_map_update_elem(&exec_base, &tid, eb, BPF_ANY);
	}
	return 0;
}

SEC("tp_btf/sys_exit")
int
BPF_PROG(pds_sys_exit, struct pt_regs *regs, long ret)
{
	struct task_struct *task = bpf_get_current_task_btf();
	bool compat = pds_is_compat(task);
	long id = regs->orig_ax;
	__u32 sc = compat ? pds_syscall_32(id) : pds_syscall_64(id);
	struct pds_snoop_event *ev;
	struct pds_scratch *s;
	struct pds_pending *p;
	long result_fd = -1;
	__u8 *data;
	long n;

	if (!sc)
		return 0;
	p = bpf_task_storage_get(&pending, task, 0, 0);
	if (!p || !p->active)
		return 0;
	if (p->syscall != sc)
		goto out;
	s = pds_scratch_get();
	if (!s)
		goto out;
	ev = pds_begin(s, p->syscall, p->status | PDS_SNOOP_ST_HAS_RESULT, p->flags, p->mode,
		       p->dirfd);
	ev->result = ret;
	data = s->rec + sizeof(struct pds_snoop_event);
	n = bpf_probe_read_user_str(data, PDS_SNOOP_PATH_MAX, (void *)p->path_ptr);
	if (n > 0) {
		if (n >= PDS_SNOOP_PATH_MAX)
			ev->status |= PDS_SNOOP_ST_TRUNCATED;
	} else if (p->entry_len > 0) {
		n = p->entry_len;
		if (n > PDS_SNOOP_ENTRY_PATH_MAX)
			n = PDS_SNOOP_ENTRY_PATH_MAX;
		bpf_probe_read_kernel(data, n, p->entry_path);
		ev->status |= PDS_SNOOP_ST_FROM_ENTRY;
		if (n >= PDS_SNOOP_ENTRY_PATH_MAX)
			ev->status |= PDS_SNOOP_ST_TRUNCATED;
	} else {
		/* Neither read worked: say so rather than drop the access. */
		pds_count(PDS_SNOOP_CNT_PATH_FAULTS);
		data[0] = 0;
		n = 1;
		ev->status |= PDS_SNOOP_ST_UNRESOLVED;
		ev->path_len = 1;
		goto send;
	}
	/* fstat() is newfstatat(fd, "", AT_EMPTY_PATH): no path, the open was seen. */
	if (n <= 1)
		goto out;
	ev->path_len = n;
	if (ret >= 0 && (p->syscall == PDS_SNOOP_SC_OPEN || p->syscall == PDS_SNOOP_SC_OPENAT ||
			 p->syscall == PDS_SNOOP_SC_OPENAT2 || p->syscall == PDS_SNOOP_SC_CREAT))
		result_fd = ret;
send:
	pds_finish(s, task, NULL, result_fd);
out:
	p->active = 0;
	return 0;
}

struct pds_vma_ctx {
	struct file *file;
};

static long
pds_vma_cb(struct task_struct *task, struct vm_area_struct *vma, struct pds_vma_ctx *c)
{
	c->file = BPF_CORE_READ(vma, vm_file);
	return 0;
}

SEC("tp_btf/sched_process_exec")
int
BPF_PROG(pds_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct pds_vma_ctx vc = {};
	struct pds_pending *pend;
	struct pds_snoop_event *ev;
	struct pds_scratch *s;
	struct mm_struct *mm;
	const char *filename, *interp;
	__u64 at_base = 0;
	__u32 status, flags, syscall;
	__s32 dirfd;

	/* A traced execve saved its arguments at entry; the exit sees the new image. */
	pend = bpf_task_storage_get(&pending, task, 0, 0);
	if (!pend || !pend->active)
		return 0;
	syscall = pend->syscall;
	status = pend->status;
	flags = pend->flags;
	dirfd = pend->dirfd;
	if (syscall != PDS_SNOOP_SC_EXECVE && syscall != PDS_SNOOP_SC_EXECVEAT) {
		pend->active = 0;
		return 0;
	}
	s = pds_scratch_get();
	if (!s) {
		pend->active = 0;
		return 0;
	}

	filename = BPF_CORE_READ(bprm, filename);
	interp = BPF_CORE_READ(bprm, interp);
	ev = pds_begin(s, syscall, status | PDS_SNOOP_ST_HAS_RESULT, flags, 0, dirfd);
	/*
	 * execveat() of a dirfd-relative name makes bprm->filename
	 * "/dev/fd/N/name": the name as requested (copied at entry) says more.
	 */
	if (syscall == PDS_SNOOP_SC_EXECVEAT && pend->entry_len > 1 &&
	    pend->entry_len < PDS_SNOOP_ENTRY_PATH_MAX) {
		__u32 n = pend->entry_len;

		if (n > PDS_SNOOP_ENTRY_PATH_MAX)
			n = PDS_SNOOP_ENTRY_PATH_MAX;
		bpf_probe_read_kernel(s->rec + sizeof(struct pds_snoop_event), n, pend->entry_path);
		ev->path_len = n;
		ev->status |= PDS_SNOOP_ST_FROM_ENTRY;
		pend->active = 0;
		pds_finish(s, task, BPF_CORE_READ(bprm, file), -1);
	} else {
		pend->active = 0;
		if (pds_path_kernel(s, filename))
			pds_finish(s, task, BPF_CORE_READ(bprm, file), -1);
	}

	/* The interpreter of a #! script: bprm->interp differs from the file name. */
	if (interp && interp != filename) {
		ev = pds_begin(s, PDS_SNOOP_SC_EXEC_INTERP,
			       PDS_SNOOP_ST_INTERP | PDS_SNOOP_ST_HAS_RESULT, 0, 0, PDS_AT_FDCWD);
		if (pds_path_kernel(s, interp))
			pds_finish(s, task, NULL, -1);
	}

	/* The ELF interpreter (PT_INTERP) is mapped at AT_BASE without an open syscall. */
	mm = BPF_CORE_READ(p, mm);
	if (!mm)
		return 0;
	for (int i = 0; i < 24; i++) {
		__u64 pair[2] = {};

		bpf_probe_read_kernel(pair, sizeof(pair), &mm->saved_auxv[i * 2]);
		if (pair[0] == 0)
			break;
		if (pair[0] == PDS_AT_BASE) {
			at_base = pair[1];
			break;
		}
	}
	if (!at_base)
		return 0;
	bpf_find_vma(p, at_base, pds_vma_cb, &vc, 0);
	if (!vc.file)
		return 0;
	ev = pds_begin(s, PDS_SNOOP_SC_EXEC_LOADER, PDS_SNOOP_ST_INTERP | PDS_SNOOP_ST_HAS_RESULT,
		       0, 0, PDS_AT_FDCWD);
	{
		bool truncated = false;
		__u32 len = pds_append_walk(s, task, &vc.file->f_path, 0, &truncated);

		if (!len)
			return 0;
		if (truncated)
			ev->status |= PDS_SNOOP_ST_TRUNCATED;
		ev->path_len = len;
		pds_finish(s, task, NULL, -1);
	}
	return 0;
}

SEC("tp_btf/io_uring_submit_req")
int
BPF_PROG(pds_io_uring_submit, struct io_kiocb *req)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct io_open *open;
	struct pds_scratch *s;
	const char *name;
	__u8 opcode = BPF_CORE_READ(req, opcode);
	__u32 sc;

	if (opcode == IORING_OP_OPENAT)
		sc = PDS_SNOOP_SC_IO_URING_OPENAT;
	else if (opcode == IORING_OP_OPENAT2)
		sc = PDS_SNOOP_SC_IO_URING_OPENAT2;
	else
		return 0;
	if (!pds_traced())
		return 0;
	s = pds_scratch_get();
	if (!s)
		return 0;
	/* io_openat_prep() already ran: the name is a kernel copy in struct io_open. */
	open = (struct io_open *)&req->cmd;
	pds_begin(s, sc, 0, BPF_CORE_READ(open, how.flags), BPF_CORE_READ(open, how.mode),
		  BPF_CORE_READ(open, dfd));
	name = BPF_CORE_READ(open, filename, name);
	if (!name || !pds_path_kernel(s, name))
		return 0;
	pds_finish(s, task, NULL, -1);
	return 0;
}
