#!/usr/bin/env python3
# mutate.py SRC A|B : apply the defect set A or B to a copy of the v7 tree
import sys
src, which = sys.argv[1], sys.argv[2]
def sub(path, old, new):
    p = f"{src}/{path}"
    s = open(p).read()
    if s.count(old) != 1:
        sys.exit(f"{path}: {old!r} found {s.count(old)} times")
    open(p, 'w').write(s.replace(old, new))
    print(f"mutated {path}: {old.strip()[:60]!r}")
if which == 'A':
    # M1: the reader's credentials instead of the opener's
    sub('fs/proc/array.c', 'scoped_with_creds(m->file->f_cred)\n\t\t\tallowed = may_read_task_caba(p);',
        'allowed = may_read_task_caba(p);')
    # M5: every column in the procfs mount's namespace (an outer pid in inner columns)
    sub('fs/proc/array.c', 'pid_nr_ns(caba, pid->numbers[g].ns)', 'pid_nr_ns(caba, ns)')
    # M3: a denied caller gets the bit with zeros
    sub('fs/pidfs.c', '\tif (!may_read_task_caba(task))\n\t\treturn 0;',
        '\tif (!may_read_task_caba(task)) {\n\t\tkinfo->mask |= PIDFD_INFO_CABA;\n\t\treturn 0;\n\t}')
    # M6: the wrong identity (the process's own pidfs inode)
    sub('fs/pidfs.c', 'kinfo->caba_ino = kinfo->caba ? caba->ino : 0;',
        'kinfo->caba_ino = kinfo->caba ? task_tgid(task)->ino : 0;')
    # M9: the bit also for a struct too small to hold the fields
    sub('fs/pidfs.c', 'if ((mask & PIDFD_INFO_CABA) && usize >= PIDFD_INFO_SIZE_VER4)',
        'if (mask & PIDFD_INFO_CABA)')
    # M8: a released thread has no CABA (the thread's liveness, not the process's)
    sub('kernel/exit.c', '\tif (!READ_ONCE(sig->pids[PIDTYPE_TGID]))\n\t\treturn NULL;',
        '\tif (!pid_alive(p) || !READ_ONCE(sig->pids[PIDTYPE_TGID]))\n\t\treturn NULL;')
    # M10: on release, the descendants go to the released process's real parent
    sub('kernel/exit.c', '\treturn caba_release_batch(tsk->signal);',
        '\trcu_assign_pointer(tsk->signal->caba, tsk->real_parent->signal);\n\treturn caba_release_batch(tsk->signal);')
elif which == 'B':
    # M4: CLONE_PARENT links the child under its parent, not its creator
    sub('kernel/fork.c', 'caba_link(p->signal, current->signal);',
        'caba_link(p->signal, p->real_parent->signal);')
elif which == 'C':
    # M11 (v1's rule): the CABA-descendants are handed on at exit, not at release
    sub('kernel/exit.c', '\tforget_original_parent(tsk, &dead);\n',
        '\tforget_original_parent(tsk, &dead);\n'
        '\tif (thread_group_leader(tsk) && thread_group_empty(tsk)) {\n'
        '\t\tstruct signal_struct *c = rcu_dereference_protected(tsk->signal->caba, 1), *d, *tmp;\n\n'
        '\t\tlist_for_each_entry_safe(d, tmp, &tsk->signal->caba_descendants, caba_sibling) {\n'
        '\t\t\tRCU_INIT_POINTER(d->caba, c);\n'
        '\t\t\tlist_move_tail(&d->caba_sibling, &c->caba_descendants);\n'
        '\t\t}\n\t}\n')
    # M7: a released process keeps reporting its last CABA (->caba kept, no tgid check)
    sub('kernel/exit.c', '\tif (!READ_ONCE(sig->pids[PIDTYPE_TGID]))\n\t\treturn NULL;\n', '')
    sub('kernel/exit.c', '\tlist_del_init(&sig->caba_sibling);\n\tRCU_INIT_POINTER(sig->caba, NULL);\n',
        '\tlist_del_init(&sig->caba_sibling);\n')
    sub('kernel/fork.c', 'WARN_ON_ONCE(rcu_access_pointer(sig->caba) ||\n\t\t     !list_empty',
        'WARN_ON_ONCE(!list_empty')
elif which == 'D':
    # M12: no CAP_CHECKPOINT_RESTORE fallback, ptrace access only
    sub('kernel/exit.c', '\tok = ns_capable_noaudit(__task_cred(p)->user_ns, CAP_CHECKPOINT_RESTORE);',
        '\tok = false;')
    # M13: an identity also for a CABA the caller cannot name
    sub('fs/pidfs.c', 'kinfo->caba_ino = kinfo->caba ? caba->ino : 0;', 'kinfo->caba_ino = caba->ino;')
