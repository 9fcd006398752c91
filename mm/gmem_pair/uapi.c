// SPDX-License-Identifier: GPL-2.0
/*
 * gmem_pair: ioctls of the private file (include/uapi/linux/gmem_pair.h).
 * The private file's owner forwards them here.
 */
#include <linux/fs.h>
#include <linux/file.h>
#include <linux/fcntl.h>
#include <linux/uaccess.h>
#include "internal.h"

static long gmem_pair_get_shared_fd(struct gmem_pair *pair, unsigned long arg)
{
	int fd;

	if (arg & ~O_CLOEXEC)
		return -EINVAL;
	fd = get_unused_fd_flags(arg);
	if (fd < 0)
		return fd;
	fd_install(fd, get_file(pair->shared_file));
	return fd;
}

/**
 * gmem_pair_convert_report - write a conversion's error report back
 * @uargs: the caller's struct gmem_pair_convert
 * @args: the kernel's copy, after gmem_pair_convert()
 * @ret: what gmem_pair_convert() returned
 *
 * A conversion that happened is reported as done even if the report
 * cannot be written (the state changed; EFAULT would say it did not).
 *
 * Return: @ret, or -EFAULT if a failure could not be reported.
 */
long gmem_pair_convert_report(struct gmem_pair_convert __user *uargs,
			      const struct gmem_pair_convert *args, long ret)
{
	if ((put_user(args->error_offset, &uargs->error_offset) ||
	     put_user(args->error_reason, &uargs->error_reason)) && ret)
		return -EFAULT;
	return ret;
}
EXPORT_SYMBOL_GPL(gmem_pair_convert_report);

static long gmem_pair_ioctl_convert(struct gmem_pair *pair,
				    struct gmem_pair_convert __user *uargs)
{
	struct gmem_pair_convert args;
	long ret;

	if (copy_from_user(&args, uargs, sizeof(args)))
		return -EFAULT;
	ret = gmem_pair_convert(pair, &args);
	return gmem_pair_convert_report(uargs, &args, ret);
}

static long gmem_pair_ioctl_query(struct gmem_pair *pair,
				  struct gmem_pair_query __user *uq)
{
	struct gmem_pair_query q;
	long ret;

	if (copy_from_user(&q, uq, sizeof(q)))
		return -EFAULT;
	ret = gmem_pair_query_extents(pair, &q,
				      u64_to_user_ptr(q.extents));
	if (ret)
		return ret;
	if (copy_to_user(uq, &q, sizeof(q)))
		return -EFAULT;
	return 0;
}

/**
 * gmem_pair_ioctl - the pair's ioctls on the private file
 * @pair: the pair; the caller holds the private file open
 * @cmd: GMEM_PAIR_GET_SHARED_FD, GMEM_PAIR_CONVERT or GMEM_PAIR_QUERY
 * @arg: the argument
 *
 * Return: as each ioctl documents; -ENOTTY for another @cmd.
 */
long gmem_pair_ioctl(struct gmem_pair *pair, unsigned int cmd,
		     unsigned long arg)
{
	switch (cmd) {
	case GMEM_PAIR_GET_SHARED_FD:
		return gmem_pair_get_shared_fd(pair, arg);
	case GMEM_PAIR_CONVERT:
		return gmem_pair_ioctl_convert(pair, (void __user *)arg);
	case GMEM_PAIR_QUERY:
		return gmem_pair_ioctl_query(pair, (void __user *)arg);
	default:
		return -ENOTTY;
	}
}
EXPORT_SYMBOL_GPL(gmem_pair_ioctl);
