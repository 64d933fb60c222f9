// SPDX-License-Identifier: GPL-2.0-only
/*
 * podscope-snoop, kernel side: file accesses of the pod's containers.
 *
 * fentry/fexit, LSM and kprobes are unavailable on the kernels we target, so
 * every syscall is seen from the raw sys_enter/sys_exit tracepoints (which
 * also see 32-bit compat calls and need no tracefs), io_uring opens from
 * io_uring_submit_req and what exec loads by itself from sched_process_exec.
 *
 * sys_enter and sys_exit run for every syscall of every process on the
 * machine, and the calls we trace run again and again with the same paths,
 * so the common cases are kept to a few instructions and as few helper calls
 * as possible (each one is a call and a return, which the kernel's
 * speculation mitigations make dear):
 *  - a syscall number no table traces returns before any helper call;
 *  - only exec saves anything at entry (its exit sees the new image); every
 *    other traced call reads its arguments from the registers at exit, which
 *    a syscall leaves as it found them, and the path then, when the syscall
 *    itself has faulted its page in;
 *  - the cgroup filter walks the task's cgroups with plain loads;
 *  - a short path is read with one fixed-size copy and hashed in place, and
 *    a per-CPU table of recently seen accesses answers repeats before the
 *    shared LRU hash is asked. Only new accesses cost a ring buffer record.
 * Relative paths are resolved here, at exit, by walking the dentries of the
 * cwd or dirfd, because user space is often too late (the process is gone).
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
#define PDS_PAGE_SIZE		 4096
#define PDS_SHORT_PATH		 128  /* read with one copy and hashed without a loop call */
#define PDS_CGROUP_DEPTH	 16   /* levels below the pod cgroup a task may sit */
#define PDS_RECENT_SLOTS	 1024 /* per CPU */
#define PDS_HASH_SEED		 0xcbf29ce484222325ULL
#define PDS_HASH_MUL		 0x100000001b3ULL

char LICENSE[] SEC("license") = "GPL";

/* Set by the user side before load. */
const volatile __u64 pod_cgroup_id = 0;
const volatile __u32 pod_level = 0;
const volatile __u64 self_cgroup_id = 0;
const volatile __u32 self_level = 0;
const volatile __u32 self_tgid = 0;
const volatile __u8 dedup_enabled = 1;
const volatile __u64 wakeup_bytes = 0;	/* 0: wake the consumer on every record */
const volatile __u8 uring_complete = 0; /* io_uring_complete attached: report opens there */

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
 * What each CPU saw last, direct-mapped by the hash of the whole dedup key:
 * a hit is an access already sent (or already in the LRU), answered with two
 * loads. Only keys the LRU has confirmed or taken in are stored, so the table
 * never hides an access that was never sent.
 */
struct pds_recent {
	__u64 slot[PDS_RECENT_SLOTS];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pds_recent);
} recent SEC(".maps");

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

/*
 * The pod's container holding @task: the cgroup one level below the pod
 * cgroup (the pod cgroup itself for a task right in it), 0 when the task is
 * not traced. Plain loads through the task's cgroups, no helper call. A
 * cgroup never changes its parent, so the answer holds for the cgroup.
 */
static __always_inline __u64
pds_container(struct task_struct *task, __u64 *cgroup_id)
{
	struct cgroup *cg = task->cgroups->dfl_cgrp;
	struct cgroup *pod;
	__u64 container;
	int level;

	if (!cg)
		return 0;
	*cgroup_id = cg->kn->id;
	level = cg->level;
	for (int i = 0; i < PDS_CGROUP_DEPTH && level > (int)pod_level + 1; i++) {
		cg = cg->self.parent->cgroup;
		level--;
	}
	if (level == (int)pod_level + 1)
		pod = cg->self.parent->cgroup;
	else if (level == (int)pod_level)
		pod = cg;
	else
		return 0;
	if (pod->kn->id != pod_cgroup_id)
		return 0;
	container = cg->kn->id;
	if (self_cgroup_id && container == self_cgroup_id)
		return 0;
	if (self_tgid && task->tgid == self_tgid)
		return 0;
	return container;
}

/*
 * Whether @id is a path syscall of either table (64-bit or 32-bit): the
 * test that every syscall of the machine pays, before any helper call.
 */
static __always_inline bool
pds_syscall_any(long id)
{
	switch (id) {
	case 2:
	case 4:
	case 5:
	case 6:
	case 8:
	case 11:
	case 18:
	case 21:
	case 33:
	case 59:
	case 84:
	case 85:
	case 89:
	case 106:
	case 107:
	case 195:
	case 196:
	case 257:
	case 262:
	case 267:
	case 269:
	case 295:
	case 300:
	case 305:
	case 307:
	case 322:
	case 332:
	case 358:
	case 383:
	case 437:
	case 439:
		return true;
	}
	return false;
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

/* The fixed part of a record; @container and @cgroup_id as pds_container() gave them. */
static __always_inline struct pds_snoop_event *
pds_begin(struct pds_scratch *s,
	  struct task_struct *task,
	  __u64 container,
	  __u64 cgroup_id,
	  __u32 syscall,
	  __u32 status,
	  __u32 flags,
	  __u32 mode,
	  __s32 dirfd)
{
	struct pds_snoop_event *ev = (struct pds_snoop_event *)s->rec;

	ev->cgroup_id = cgroup_id;
	ev->container_cgroup_id = container;
	ev->result = 0;
	ev->pid = task->pid;
	ev->tgid = task->tgid;
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

static __always_inline __u64
pds_hash_word(__u64 hash, __u64 word)
{
	hash = (hash ^ word) * PDS_HASH_MUL;
	return hash ^ (hash >> 29);
}

/* The directory a relative path starts from, in the dedup key: inode and device. */
static __always_inline __u64
pds_dir_id(__u64 ino, __u32 dev)
{
	return pds_hash_word(ino, dev) | 1;
}

/*
 * TRUE when this access was seen already (and counts it); remembers it
 * otherwise. @path_hash is pds_hash() of the path when @hashed.
 */
static __always_inline bool
pds_dedup_seen(struct pds_scratch *s, __u64 base_id, __u64 path_hash, bool hashed)
{
	struct pds_snoop_event *ev = (struct pds_snoop_event *)s->rec;
	__u8 *data = s->rec + sizeof(struct pds_snoop_event);
	struct pds_dedup_key key = {};
	struct pds_recent *recent_cpu;
	__u32 path_len = ev->path_len;
	__u64 *slot = NULL, h;
	__u32 zero = 0;
	__u8 one = 1;

	if (!dedup_enabled)
		return false;
	if (path_len > PDS_SNOOP_PATH_MAX)
		path_len = PDS_SNOOP_PATH_MAX;
	key.cgroup_id = ev->container_cgroup_id;
	key.base_id = base_id;
	key.hash = hashed ? path_hash : pds_hash(data, path_len);
	key.syscall = ev->syscall;
	key.ok = (ev->status & PDS_SNOOP_ST_HAS_RESULT) ? ev->result >= 0 : 2;

	h = pds_hash_word(key.hash, key.cgroup_id);
	h = pds_hash_word(h, key.base_id);
	h = pds_hash_word(h, ((__u64)key.syscall << 8) | key.ok);
	h |= 1; /* 0 is an empty slot */
	recent_cpu = bpf_map_lookup_elem(&recent, &zero);
	if (recent_cpu) {
		slot = &recent_cpu->slot[h & (PDS_RECENT_SLOTS - 1)];
		if (*slot == h) {
			pds_count(PDS_SNOOP_CNT_DEDUP_HITS);
			return true;
		}
	}
	if (bpf_map_lookup_elem(&dedup, &key)) {
		if (slot)
			*slot = h;
		pds_count(PDS_SNOOP_CNT_DEDUP_HITS);
		return true;
	}
	bpf_map_update_elem(&dedup, &key, &one, BPF_ANY);
	if (slot)
		*slot = h;
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
	   long result_fd,
	   __u64 path_hash,
	   bool hashed)
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

		/* The dentry stands for the directory in the dedup key; walked only if new. */
		if (ev->dirfd == PDS_AT_FDCWD) {
			struct dentry *cwd = task->fs->pwd.dentry;

			base = &task->fs->pwd;
			base_id = pds_dir_id(cwd->d_inode->i_ino, cwd->d_sb->s_dev);
		} else {
			struct file *dir = pds_fd_file(task, ev->dirfd);

			if (dir) {
				base = &dir->f_path;
				base_id = pds_dir_id(
					BPF_CORE_READ(dir, f_path.dentry, d_inode, i_ino),
					BPF_CORE_READ(dir, f_path.dentry, d_sb, s_dev));
			}
		}
		if (pds_dedup_seen(s, base_id, path_hash, hashed))
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
	if (!deduped && pds_dedup_seen(s, base_id, path_hash, hashed))
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

/* The arguments of a traced syscall, as it finds them in the registers. */
struct pds_args {
	__u64 path_ptr;
	__u64 how_ptr; /* openat2 */
	__s32 dirfd;
	__u32 flags;
	__u32 mode;
};

static __always_inline void
pds_args_get(struct pt_regs *regs, bool compat, __u32 sc, struct pds_args *a)
{
	int path_arg = 1;

	a->flags = 0;
	a->mode = 0;
	a->how_ptr = 0;
	a->dirfd = PDS_AT_FDCWD;
	switch (sc) {
	case PDS_SNOOP_SC_OPEN:
		path_arg = 0;
		a->flags = pds_arg(regs, compat, 1);
		a->mode = pds_arg(regs, compat, 2);
		break;
	case PDS_SNOOP_SC_CREAT:
		path_arg = 0;
		a->flags = PDS_O_CREAT_WRONLY_TRUNC;
		a->mode = pds_arg(regs, compat, 1);
		break;
	case PDS_SNOOP_SC_OPENAT:
		a->flags = pds_arg(regs, compat, 2);
		a->mode = pds_arg(regs, compat, 3);
		break;
	case PDS_SNOOP_SC_OPENAT2:
		a->how_ptr = pds_arg(regs, compat, 2);
		break;
	case PDS_SNOOP_SC_EXECVEAT:
		a->flags = pds_arg(regs, compat, 4);
		break;
	case PDS_SNOOP_SC_LSTAT:
	case PDS_SNOOP_SC_LSTAT64:
	case PDS_SNOOP_SC_OLDLSTAT:
		path_arg = 0;
		a->flags = PDS_AT_SYMLINK_NOFOLLOW;
		break;
	case PDS_SNOOP_SC_NEWFSTATAT:
	case PDS_SNOOP_SC_FSTATAT64:
	case PDS_SNOOP_SC_FACCESSAT2:
		a->flags = pds_arg(regs, compat, 3);
		if (sc == PDS_SNOOP_SC_FACCESSAT2)
			a->mode = pds_arg(regs, compat, 2);
		break;
	case PDS_SNOOP_SC_STATX:
		a->flags = pds_arg(regs, compat, 2);
		break;
	case PDS_SNOOP_SC_ACCESS:
		path_arg = 0;
		a->mode = pds_arg(regs, compat, 1);
		break;
	case PDS_SNOOP_SC_FACCESSAT:
		a->mode = pds_arg(regs, compat, 2);
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
		a->dirfd = (__s32)pds_arg(regs, compat, 0);
	a->path_ptr = pds_arg(regs, compat, path_arg);
}

/* Index of the first zero byte of @w, which has one: a lowest-bit search. */
static __always_inline __u32
pds_first_nul(__u64 w)
{
	__u64 z = (w - 0x0101010101010101ULL) & ~w & 0x8080808080808080ULL;
	__u32 j = 0;

	if (!(z & 0xffffffffULL)) {
		j += 4;
		z >>= 32;
	}
	if (!(z & 0xffffULL)) {
		j += 2;
		z >>= 16;
	}
	if (!(z & 0xffULL))
		j += 1;
	return j;
}

static __always_inline bool
pds_has_nul(__u64 w)
{
	return ((w - 0x0101010101010101ULL) & ~w & 0x8080808080808080ULL) != 0;
}

/*
 * A user path of fewer than PDS_SHORT_PATH bytes, read with one copy that
 * stops at the end of its page (the next one may be unmapped) and hashed as
 * pds_hash() would. Returns its length with the NUL, or 0 when it is longer,
 * crosses into the next page or cannot be read: then the caller reads it
 * with the string helper.
 */
static __always_inline __u32
pds_read_short(__u8 *data, __u64 ptr, __u64 *hash)
{
	__u32 room = PDS_PAGE_SIZE - (ptr & (PDS_PAGE_SIZE - 1));
	__u64 h = PDS_HASH_SEED;

	if (room > PDS_SHORT_PATH)
		room = PDS_SHORT_PATH;
	if (bpf_probe_read_user(data, room, (void *)ptr) != 0)
		return 0;
	for (__u32 i = 0; i < PDS_SHORT_PATH / 8; i++) {
		__u64 w;
		__u32 j;

		if (i * 8 >= room)
			return 0;
		w = *(__u64 *)(data + i * 8);
		if (!pds_has_nul(w)) {
			h = pds_hash_word(h, w);
			continue;
		}
		j = pds_first_nul(w);
		/* Bytes past @room are left from an earlier record. */
		if (i * 8 + j >= room)
			return 0;
		h = pds_hash_word(h, w & ((1ULL << (j * 8)) - 1));
		*hash = h;
		return i * 8 + j + 1;
	}
	return 0;
}

/*
 * What exec needs kept from before it replaces the image: its arguments, the
 * name as requested and, for execveat(), the dirfd directory (close-on-exec
 * descriptors are gone by the time the new image runs).
 */
static __always_inline int
pds_exec_enter(struct task_struct *task, struct pt_regs *regs, long id)
{
	struct pds_scratch *s;
	struct pds_pending *p;
	struct pds_args a;
	__u64 container, cgroup_id = 0;
	bool compat = pds_is_compat(task);
	__u32 sc, tid;
	long n;

	sc = compat ? pds_syscall_32(id) : pds_syscall_64(id);
	if (sc != PDS_SNOOP_SC_EXECVE && sc != PDS_SNOOP_SC_EXECVEAT)
		return 0;
	container = pds_container(task, &cgroup_id);
	if (!container)
		return 0;
	p = bpf_task_storage_get(&pending, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!p)
		return 0;
	pds_args_get(regs, compat, sc, &a);
	p->syscall = sc;
	p->status = compat ? PDS_SNOOP_ST_COMPAT : 0;
	p->flags = a.flags;
	p->mode = a.mode;
	p->dirfd = a.dirfd;
	p->path_ptr = a.path_ptr;
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
		tid = task->pid;
		pos = pds_walk(s, task, BPF_CORE_READ(dir, f_path.mnt),
			       BPF_CORE_READ(dir, f_path.dentry), &len, &truncated);
		if (len > PDS_SNOOP_PATH_MAX)
			len = PDS_SNOOP_PATH_MAX;
		bpf_probe_read_kernel(eb->path, len, &s->walk[pos & PDS_PATH_MASK]);
		eb->len = len;
		eb->truncated = truncated;
		eb->base_id = pds_dir_id(BPF_CORE_READ(dir, f_path.dentry, d_inode, i_ino),
					 BPF_CORE_READ(dir, f_path.dentry, d_sb, s_dev));
		bpf_map_update_elem(&exec_base, &tid, eb, BPF_ANY);
	}
	return 0;
}

/*
 * Exec about to replace the image (kernel 6.10 and later): the old memory,
 * descriptors and syscall registers are all still there. Attached instead
 * of sys_enter, which would cost every syscall of the machine a program run.
 */
SEC("tp_btf/sched_prepare_exec")
int
BPF_PROG(pds_exec_prepare, struct task_struct *task, struct linux_binprm *bprm)
{
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);

	if (!regs)
		return 0;
	return pds_exec_enter(task, regs, regs->orig_ax);
}

/* The same on kernels without sched_prepare_exec: every syscall runs this. */
SEC("tp_btf/sys_enter")
int
BPF_PROG(pds_sys_enter, struct pt_regs *regs, long id)
{
	/* execve and execveat of both tables; anything else leaves at once. */
	if (id != 59 && id != 322 && id != 11 && id != 358)
		return 0;
	return pds_exec_enter(bpf_get_current_task_btf(), regs, id);
}

SEC("tp_btf/sys_exit")
int
BPF_PROG(pds_sys_exit, struct pt_regs *regs, long ret)
{
	long id = regs->orig_ax;
	struct task_struct *task;
	struct pds_snoop_event *ev;
	struct pds_pending *p = NULL;
	struct pds_scratch *s;
	struct pds_args a;
	__u64 container, cgroup_id = 0, hash = 0;
	__u32 sc, status;
	long result_fd = -1;
	bool compat;
	__u8 *data;
	long n;

	if (!pds_syscall_any(id))
		return 0;
	task = bpf_get_current_task_btf();
	compat = pds_is_compat(task);
	sc = compat ? pds_syscall_32(id) : pds_syscall_64(id);
	if (!sc)
		return 0;
	if (sc == PDS_SNOOP_SC_EXECVE || sc == PDS_SNOOP_SC_EXECVEAT) {
		/* A success was reported by pds_exec; these registers are the new image's. */
		if (ret == 0)
			return 0;
		p = bpf_task_storage_get(&pending, task, 0, 0);
	}
	if (p && p->active) {
		/* An exec that failed after its arguments were saved. */
		p->active = 0;
		if (p->syscall != sc)
			return 0;
		a.path_ptr = p->path_ptr;
		a.how_ptr = 0;
		a.dirfd = p->dirfd;
		a.flags = p->flags;
		a.mode = p->mode;
		status = p->status;
	} else {
		/* Any other syscall, and an exec that failed before it saved anything. */
		p = NULL;
		pds_args_get(regs, compat, sc, &a);
		status = compat ? PDS_SNOOP_ST_COMPAT : 0;
	}
	/* statx(fd, NULL, AT_EMPTY_PATH) and the like (Linux 6.11): no path, the open was seen. */
	if (!a.path_ptr)
		return 0;
	container = pds_container(task, &cgroup_id);
	if (!container)
		return 0;
	s = pds_scratch_get();
	if (!s)
		return 0;
	ev = pds_begin(s, task, container, cgroup_id, sc, status | PDS_SNOOP_ST_HAS_RESULT, a.flags,
		       a.mode, a.dirfd);
	ev->result = ret;
	if (a.how_ptr) {
		struct open_how how = {};

		if (bpf_probe_read_user(&how, sizeof(how), (void *)a.how_ptr) == 0) {
			ev->flags = how.flags;
			ev->mode = how.mode;
		}
	}
	data = s->rec + sizeof(struct pds_snoop_event);
	n = pds_read_short(data, a.path_ptr, &hash);
	if (n > 0) {
		ev->path_len = n;
	} else {
		n = bpf_probe_read_user_str(data, PDS_SNOOP_PATH_MAX, (void *)a.path_ptr);
		if (n > 0) {
			if (n >= PDS_SNOOP_PATH_MAX)
				ev->status |= PDS_SNOOP_ST_TRUNCATED;
		} else if (p && p->entry_len > 0) {
			n = p->entry_len;
			if (n > PDS_SNOOP_ENTRY_PATH_MAX)
				n = PDS_SNOOP_ENTRY_PATH_MAX;
			bpf_probe_read_kernel(data, n, p->entry_path);
			ev->status |= PDS_SNOOP_ST_FROM_ENTRY;
			if (n >= PDS_SNOOP_ENTRY_PATH_MAX)
				ev->status |= PDS_SNOOP_ST_TRUNCATED;
		} else {
			/* Unreadable: say so rather than drop the access. */
			pds_count(PDS_SNOOP_CNT_PATH_FAULTS);
			data[0] = 0;
			ev->status |= PDS_SNOOP_ST_UNRESOLVED;
			ev->path_len = 1;
			/* One pds_finish() in the program: it is large to verify. */
			goto finish;
		}
		ev->path_len = n;
	}
	/*
	 * From memory, not the register: the verifier would otherwise carry
	 * every length pds_read_short() can return as a state of its own
	 * through pds_finish().
	 */
	n = *(volatile __u16 *)&ev->path_len;
	/* fstat() is newfstatat(fd, "", AT_EMPTY_PATH): no path, the open was seen. */
	if (n <= 1)
		return 0;
	if (ret >= 0 && (sc == PDS_SNOOP_SC_OPEN || sc == PDS_SNOOP_SC_OPENAT ||
			 sc == PDS_SNOOP_SC_OPENAT2 || sc == PDS_SNOOP_SC_CREAT))
		result_fd = ret;
finish:
	return pds_finish(s, task, NULL, result_fd, hash, hash != 0);
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
	__u64 at_base = 0, container, cgroup_id = 0;
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
	container = pds_container(task, &cgroup_id);
	s = pds_scratch_get();
	if (!s || !container) {
		pend->active = 0;
		return 0;
	}

	filename = BPF_CORE_READ(bprm, filename);
	interp = BPF_CORE_READ(bprm, interp);
	ev = pds_begin(s, task, container, cgroup_id, syscall, status | PDS_SNOOP_ST_HAS_RESULT,
		       flags, 0, dirfd);
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
		pds_finish(s, task, BPF_CORE_READ(bprm, file), -1, 0, false);
	} else {
		pend->active = 0;
		if (pds_path_kernel(s, filename))
			pds_finish(s, task, BPF_CORE_READ(bprm, file), -1, 0, false);
	}

	/* The interpreter of a #! script: bprm->interp differs from the file name. */
	if (interp && interp != filename) {
		ev = pds_begin(s, task, container, cgroup_id, PDS_SNOOP_SC_EXEC_INTERP,
			       PDS_SNOOP_ST_INTERP | PDS_SNOOP_ST_HAS_RESULT, 0, 0, PDS_AT_FDCWD);
		if (pds_path_kernel(s, interp))
			pds_finish(s, task, NULL, -1, 0, false);
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
	ev = pds_begin(s, task, container, cgroup_id, PDS_SNOOP_SC_EXEC_LOADER,
		       PDS_SNOOP_ST_INTERP | PDS_SNOOP_ST_HAS_RESULT, 0, 0, PDS_AT_FDCWD);
	{
		bool truncated = false;
		__u32 len = pds_append_walk(s, task, &vc.file->f_path, 0, &truncated);

		if (!len)
			return 0;
		if (truncated)
			ev->status |= PDS_SNOOP_ST_TRUNCATED;
		ev->path_len = len;
		pds_finish(s, task, NULL, -1, 0, false);
	}
	return 0;
}

/*
 * io_uring opens run later, often on a worker thread: the submission is kept
 * here, keyed by process and user_data, until io_uring_complete gives the
 * result. LRU so that requests that never complete cannot fill it.
 */
struct pds_uring_key {
	__u64 user_data;
	__u32 tgid;
	__u32 pad;
};

struct pds_uring_req {
	__u32 file_slot; /* opened into a fixed-file slot: no descriptor to resolve */
	__u32 pad;
	__u8 rec[sizeof(struct pds_snoop_event) + PDS_SNOOP_PATH_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 256);
	__type(key, struct pds_uring_key);
	__type(value, struct pds_uring_req);
} uring_reqs SEC(".maps");

/* Opens submitted and not yet completed: every other completion leaves at once. */
__u64 uring_inflight = 0;

SEC("tp_btf/io_uring_submit_req")
int
BPF_PROG(pds_io_uring_submit, struct io_kiocb *req)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct pds_uring_key key = {};
	struct pds_uring_req *r;
	struct io_open *open;
	struct pds_scratch *s;
	const char *name;
	__u8 opcode = BPF_CORE_READ(req, opcode);
	__u64 container, cgroup_id = 0;
	__u32 sc;

	if (opcode == IORING_OP_OPENAT)
		sc = PDS_SNOOP_SC_IO_URING_OPENAT;
	else if (opcode == IORING_OP_OPENAT2)
		sc = PDS_SNOOP_SC_IO_URING_OPENAT2;
	else
		return 0;
	container = pds_container(task, &cgroup_id);
	if (!container)
		return 0;
	s = pds_scratch_get();
	if (!s)
		return 0;
	/* io_openat_prep() already ran: the name is a kernel copy in struct io_open. */
	open = (struct io_open *)&req->cmd;
	pds_begin(s, task, container, cgroup_id, sc, 0, BPF_CORE_READ(open, how.flags),
		  BPF_CORE_READ(open, how.mode), BPF_CORE_READ(open, dfd));
	name = BPF_CORE_READ(open, filename, name);
	if (!name || !pds_path_kernel(s, name))
		return 0;
	if (!uring_complete) {
		/* Without the completion: reported now, with no result. */
		pds_finish(s, task, NULL, -1, 0, false);
		return 0;
	}
	key.user_data = BPF_CORE_READ(req, cqe.user_data);
	key.tgid = task->tgid;
	/* The record so far (fixed part and path) goes through the map's value. */
	r = (struct pds_uring_req *)s->walk;
	r->file_slot = BPF_CORE_READ(open, file_slot);
	bpf_probe_read_kernel(r->rec, sizeof(r->rec), s->rec);
	if (bpf_map_update_elem(&uring_reqs, &key, r, BPF_ANY) == 0)
		__sync_fetch_and_add(&uring_inflight, 1);
	return 0;
}

/* The result of an io_uring open: now the access is reported, like a syscall's exit. */
SEC("tp_btf/io_uring_complete")
int
BPF_PROG(pds_io_uring_complete, struct io_ring_ctx *ring, void *req, struct io_uring_cqe *cqe)
{
	struct task_struct *task;
	struct pds_snoop_event *ev;
	struct pds_uring_key key = {};
	struct pds_uring_req *r;
	struct pds_scratch *s;
	long result_fd = -1;
	__s32 res;

	if (!uring_inflight)
		return 0;
	task = bpf_get_current_task_btf();
	key.user_data = cqe->user_data;
	key.tgid = task->tgid;
	r = bpf_map_lookup_elem(&uring_reqs, &key);
	if (!r)
		return 0;
	s = pds_scratch_get();
	if (!s)
		return 0;
	bpf_probe_read_kernel(s->rec, sizeof(r->rec), r->rec);
	if (!r->file_slot)
		result_fd = 0;
	bpf_map_delete_elem(&uring_reqs, &key);
	__sync_fetch_and_add(&uring_inflight, -1);
	res = cqe->res;
	ev = (struct pds_snoop_event *)s->rec;
	ev->result = res;
	ev->status |= PDS_SNOOP_ST_HAS_RESULT;
	if (res < 0 || result_fd < 0)
		result_fd = -1;
	else
		result_fd = res;
	pds_finish(s, task, NULL, result_fd, 0, false);
	return 0;
}
