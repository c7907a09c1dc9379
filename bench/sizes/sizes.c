// SPDX-License-Identifier: GPL-2.0
/*
 * The layout facts scripts/bench reports, as symbols whose size llvm-nm -S
 * reports: built against each kernel, never loaded.
 *
 *   size_S        sizeof(struct S)
 *   off_S__F      offsetof(struct S, F) + 1 (+ 1: no zero-sized symbol)
 *   l1_cache_bytes, task_struct_align
 *
 * The offsets are those of the fields the two walks over N entries touch
 * per entry: caba_release()'s over the CABA-descendants (signal_struct) and
 * forget_original_parent()'s over the children (task_struct, and the
 * child's signal_struct), so that the cache lines per entry can be counted.
 */
#include <linux/cache.h>
#include <linux/module.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/stddef.h>
#if __has_include(<linux/sched/caba.h>)
#include <linux/sched/caba.h>
#endif

#define SIZE(s) char size_##s[sizeof(struct s)]
#define OFF(s, f, name) char off_##s##__##name[offsetof(struct s, f) + 1]

SIZE(task_struct);
SIZE(signal_struct);
char l1_cache_bytes[L1_CACHE_BYTES];
/* task_struct_cachep's alignment (kernel/fork.c, fork_init()). */
char task_struct_align[L1_CACHE_BYTES > ARCH_MIN_TASKALIGN ?
		       L1_CACHE_BYTES : ARCH_MIN_TASKALIGN];

/* forget_original_parent() and reparent_leader(), per child and thread. */
OFF(task_struct, sibling, sibling);
OFF(task_struct, signal, signal);
OFF(task_struct, thread_node, thread_node);
OFF(task_struct, real_parent, real_parent);
OFF(task_struct, parent, parent);
OFF(task_struct, ptrace, ptrace);
OFF(task_struct, pdeath_signal, pdeath_signal);
OFF(task_struct, exit_state, exit_state);
OFF(task_struct, exit_signal, exit_signal);
OFF(signal_struct, thread_head, thread_head);
OFF(signal_struct, pids[PIDTYPE_PGID], pids_pgid);

#ifdef _LINUX_SCHED_CABA_H
/* caba_release(), per CABA-descendant. */
OFF(signal_struct, caba, caba);
OFF(signal_struct, caba_descendants, caba_descendants);
OFF(signal_struct, caba_sibling, caba_sibling);
#endif

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("structure layout facts for scripts/bench");
