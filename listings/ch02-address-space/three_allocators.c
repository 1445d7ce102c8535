// SPDX-License-Identifier: GPL-2.0
/*
 * The classic experiment in C, for the real 32-bit kernel (`cargo xtask qemu --arch i386`): one page
 * from __get_free_page(), 100 bytes from kmalloc() and 1 000 000 bytes from vmalloc(), their addresses
 * printed, everything freed on unload. three_allocators.rs beside it is the same module in Rust and
 * prints the same lines.
 *
 * What 6.12 needed: __get_free_page() takes a gfp mask (GFP_KERNEL); %p prints a hashed value, so the
 * addresses are printed as numbers (0x%lx of an unsigned long); pr_fmt() gives the lines the
 * "three_allocators: " prefix Rust's pr_info!() gives them.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/gfp.h>
#include <linux/io.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>

static unsigned long page;
static void *small;
static void *large;

static void free_all(void)
{
	vfree(large);
	kfree(small);
	free_pages(page, 0);
}

static int __init three_allocators_init(void)
{
	/* ANCHOR: alloc */
	page = __get_free_pages(GFP_KERNEL, 0);
	small = kmalloc(100, GFP_KERNEL);
	large = vmalloc(1000000);
	/* ANCHOR_END: alloc */
	if (!page || !small || !large) {
		free_all();
		return -ENOMEM;
	}
	/* ANCHOR: print */
	pr_info("__get_free_pages(GFP_KERNEL, 0) = 0x%lx\n", page);
	pr_info("kmalloc(100, GFP_KERNEL)         = 0x%lx\n", (unsigned long)small);
	pr_info("vmalloc(1000000)                 = 0x%lx\n", (unsigned long)large);
	pr_info("virt_to_phys(page) = 0x%lx, virt_to_phys(object) = 0x%lx\n",
		(unsigned long)virt_to_phys((void *)page), (unsigned long)virt_to_phys(small));
	/* ANCHOR_END: print */
	return 0;
}

static void __exit three_allocators_exit(void)
{
	free_all();
	pr_info("freed all three\n");
}

module_init(three_allocators_init);
module_exit(three_allocators_exit);
MODULE_AUTHOR("kmem-book");
MODULE_DESCRIPTION("Where __get_free_pages(), kmalloc() and vmalloc() memory lives");
MODULE_LICENSE("GPL");
