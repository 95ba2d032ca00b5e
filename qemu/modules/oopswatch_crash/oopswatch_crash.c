// SPDX-License-Identifier: GPL-2.0
/*
 * oopswatch_crash: tiny test module so that oopswatch can be tested on
 * frames that live in a loadable module.
 *
 *   insmod oopswatch_crash.ko
 *   echo EXCEPTION > /sys/module/oopswatch_crash/parameters/crash
 *   (or WARNING, BUG)
 *
 * On load it prints its load address, because kernels without
 * CONFIG_KALLSYMS hide module addresses in /proc/modules and sysfs.
 */
#include <linux/bug.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/string.h>

static noinline void oopswatch_crash_exception(void)
{
	pr_info("oopswatch_crash: dereferencing NULL\n");
	*(volatile int *)NULL = 0;
}

static noinline void oopswatch_crash_warning(void)
{
	WARN(1, "oopswatch_crash: WARNING requested\n");
}

static noinline void oopswatch_crash_bug(void)
{
	BUG();
}

static int oopswatch_crash_set(const char *val, const struct kernel_param *kp)
{
	if (sysfs_streq(val, "EXCEPTION"))
		oopswatch_crash_exception();
	else if (sysfs_streq(val, "WARNING"))
		oopswatch_crash_warning();
	else if (sysfs_streq(val, "BUG"))
		oopswatch_crash_bug();
	else
		return -EINVAL;
	return 0;
}

static const struct kernel_param_ops oopswatch_crash_ops = {
	.set = oopswatch_crash_set,
};
module_param_cb(crash, &oopswatch_crash_ops, NULL, 0200);
MODULE_PARM_DESC(crash, "EXCEPTION, WARNING or BUG");

static int __init oopswatch_crash_init(void)
{
	pr_info("oopswatch_crash: loaded at 0x%px (core size 0x%x), oopswatch_crash_set at 0x%px\n",
		THIS_MODULE->core_layout.base, THIS_MODULE->core_layout.size,
		oopswatch_crash_set);
	return 0;
}

static void __exit oopswatch_crash_exit(void)
{
}

module_init(oopswatch_crash_init);
module_exit(oopswatch_crash_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("oopswatch test module that crashes on request");
