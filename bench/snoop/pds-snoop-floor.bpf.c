// SPDX-License-Identifier: GPL-2.0-only
/*
 * The floor of the snoop benchmark: programs that do nothing, attached where
 * podscope-snoop attaches its own. What a syscall costs more with these is
 * what the kernel charges for the attachment alone, before any work of ours.
 */
#include "vmlinux.h"

#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

SEC("tp_btf/sys_exit")
int
BPF_PROG(pds_floor_sys_exit, struct pt_regs *regs, long ret)
{
	return 0;
}

/* Only loaded with "enter": the attachment older kernels need for exec. */
SEC("tp_btf/sys_enter")
int
BPF_PROG(pds_floor_sys_enter, struct pt_regs *regs, long id)
{
	return 0;
}
