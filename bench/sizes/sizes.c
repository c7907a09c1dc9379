// SPDX-License-Identifier: GPL-2.0
/*
 * The sizes of the structures the CABA series grows, as symbols whose size
 * llvm-nm -S reports: built against each kernel by scripts/bench.
 */
#include <linux/module.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>

char size_task_struct[sizeof(struct task_struct)];
char size_signal_struct[sizeof(struct signal_struct)];

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("structure sizes for scripts/bench");
