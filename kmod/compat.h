/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * shmipc: the few kernel API differences between the supported kernels
 * (6.1 to 6.12), kept here instead of scattered version checks. Kbuild
 * detects each feature in the target kernel's headers (so a backport is
 * picked up too) and defines SHMIPC_HAVE_*.
 */
#ifndef _SHMIPC_COMPAT_H
#define _SHMIPC_COMPAT_H

#include <linux/mm.h>

#ifndef SHMIPC_HAVE_VM_FLAGS_SET
/* vm_flags became read-only behind vm_flags_{set,clear}() in 6.3. */
static inline void vm_flags_set(struct vm_area_struct *vma, vm_flags_t flags)
{
	vma->vm_flags |= flags;
}

static inline void vm_flags_clear(struct vm_area_struct *vma, vm_flags_t flags)
{
	vma->vm_flags &= ~flags;
}
#endif

#endif /* _SHMIPC_COMPAT_H */
