// SPDX-License-Identifier: GPL-2.0-only
/*
 * shmipc_control: the positive control of `make check-debug`. Loaded into
 * the sanitizer kernel before the module's tests, it does on purpose what
 * KASAN, UBSAN and kmemleak exist to report: a read past a kmalloc()ed
 * object, a shift wider than its type, and an allocation it forgets.
 * scripts/vm-test.sh requires each report; a sanitizer that stays silent
 * here would stay silent for shmipc too. Never load it anywhere else.
 */

#include <linux/module.h>
#include <linux/slab.h>

/* Parameters, so that the compiler cannot see the bad values coming. */
static unsigned int size = 17;
module_param(size, uint, 0444);
MODULE_PARM_DESC(size, "Bytes to allocate; the read is at [size]");

static unsigned int shift = 33;
module_param(shift, uint, 0444);
MODULE_PARM_DESC(shift, "Bits to shift a 32-bit value by");

static void *shmipc_control_leaked;

static noinline void shmipc_control_oob(void)
{
	char *p = kmalloc(size, GFP_KERNEL);

	if (!p)
		return;
	pr_info("shmipc_control: reading byte %u of %u\n", size, size);
	pr_info("shmipc_control: read %d\n", READ_ONCE(p[size]));
	kfree(p);
}

static noinline void shmipc_control_shift(void)
{
	u32 one = 1;

	pr_info("shmipc_control: 1 << %u = %u\n", shift, one << shift);
}

static noinline void shmipc_control_leak(void)
{
	/* Stored, then forgotten: no reference is left anywhere. */
	WRITE_ONCE(shmipc_control_leaked, kmalloc(128, GFP_KERNEL));
	WRITE_ONCE(shmipc_control_leaked, NULL);
}

static int __init shmipc_control_init(void)
{
	shmipc_control_oob();
	shmipc_control_shift();
	shmipc_control_leak();
	return 0;
}

static void __exit shmipc_control_exit(void)
{
}

module_init(shmipc_control_init);
module_exit(shmipc_control_exit);

MODULE_DESCRIPTION("Positive control for the shmipc sanitizer run");
MODULE_LICENSE("GPL");
