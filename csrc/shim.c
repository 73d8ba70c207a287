/*
 * ociruntime's C shim: the Linux system calls Python's os module lacks.
 *
 * Every function returns what the kernel returned (-1 with errno set on failure); the
 * Python face in ociruntime/_shim.py turns -1 into OSError(errno, "<syscall>: ...").
 * Nothing here allocates, keeps state, or calls back into Python.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/vfs.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/capability.h>

#ifndef SYS_openat2
#define SYS_openat2 437
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_move_mount
#define SYS_move_mount 429
#endif

struct oci_mount_attr {
    uint64_t attr_set;
    uint64_t attr_clr;
    uint64_t propagation;
    uint64_t userns_fd;
};

struct oci_open_how {
    uint64_t flags;
    uint64_t mode;
    uint64_t resolve;
};

int oci_unshare(int flags) { return unshare(flags); }

int oci_setns(int fd, int nstype) { return setns(fd, nstype); }

int oci_pivot_root(const char *new_root, const char *put_old)
{
    return (int)syscall(SYS_pivot_root, new_root, put_old);
}

int oci_mount(const char *source, const char *target, const char *fstype,
              unsigned long flags, const char *data)
{
    return mount(source, target, fstype, flags, data);
}

int oci_umount2(const char *target, int flags) { return umount2(target, flags); }

int oci_setdomainname(const char *name, size_t len) { return setdomainname(name, len); }

int oci_sethostname(const char *name, size_t len) { return sethostname(name, len); }

int oci_prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4,
              unsigned long a5)
{
    return prctl(option, a2, a3, a4, a5);
}

/* openat2(2): the kernel resolves the path, e.g. confined to dirfd with RESOLVE_IN_ROOT. */
int oci_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve)
{
    struct oci_open_how how = {flags, mode, resolve};
    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
}

int oci_close_range(unsigned int first, unsigned int last, unsigned int flags)
{
    return (int)syscall(SYS_close_range, first, last, flags);
}

/* Sets all three capability sets of the calling thread from 64-bit masks. */
int oci_capset(uint64_t effective, uint64_t permitted, uint64_t inheritable)
{
    struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof(data));
    data[0].effective = (uint32_t)effective;
    data[1].effective = (uint32_t)(effective >> 32);
    data[0].permitted = (uint32_t)permitted;
    data[1].permitted = (uint32_t)(permitted >> 32);
    data[0].inheritable = (uint32_t)inheritable;
    data[1].inheritable = (uint32_t)(inheritable >> 32);
    return (int)syscall(SYS_capset, &header, data);
}

/* keyctl(KEYCTL_JOIN_SESSION_KEYRING, name), then add `setbits` to the keyring's
 * permissions (read back with KEYCTL_DESCRIBE: "type;uid;gid;perm;description"). */
long oci_join_session_keyring(const char *name, unsigned int setbits)
{
    char desc[512];
    const char *p = desc;
    long serial = syscall(SYS_keyctl, 1 /* KEYCTL_JOIN_SESSION_KEYRING */, name, 0, 0, 0);
    long n;
    int field;
    if (serial < 0)
        return -1;
    n = syscall(SYS_keyctl, 6 /* KEYCTL_DESCRIBE */, serial, desc, sizeof(desc) - 1, 0);
    if (n < 0)
        return -1;
    desc[n < (long)sizeof(desc) ? n : (long)sizeof(desc) - 1] = 0;
    for (field = 0; field < 3 && p; field++)
        p = strchr(p, ';') ? strchr(p, ';') + 1 : NULL;
    if (!p) {
        errno = EINVAL;
        return -1;
    }
    return syscall(SYS_keyctl, 5 /* KEYCTL_SETPERM */, serial,
                   (unsigned int)strtoul(p, NULL, 16) | setbits, 0, 0);
}

/* The filesystem magic of an open fd: proves a handle is really procfs, tmpfs, ... */
long oci_fstatfs_type(int fd)
{
    struct statfs buf;
    if (fstatfs(fd, &buf) < 0)
        return -1;
    return (long)buf.f_type;
}

/* bpf(2), for the cgroup v2 device filter; attr is built by the caller. */
long oci_bpf(int cmd, void *attr, unsigned int size)
{
    return syscall(SYS_bpf, cmd, attr, size);
}

/* mount_setattr(2): change the flags of a whole mount tree at once (AT_RECURSIVE);
   MOUNT_ATTR_IDMAP takes the user namespace carrying the mapping in userns_fd. */
int oci_mount_setattr(int dirfd, const char *path, unsigned int flags, uint64_t attr_set,
                      uint64_t attr_clr, uint64_t userns_fd)
{
    struct oci_mount_attr attr = {attr_set, attr_clr, 0, userns_fd};
    return (int)syscall(SYS_mount_setattr, dirfd, path, flags, &attr, sizeof(attr));
}

/* open_tree(2): with OPEN_TREE_CLONE, an fd of a detached copy of the mount (tree) at path. */
int oci_open_tree(int dirfd, const char *path, unsigned int flags)
{
    return (int)syscall(SYS_open_tree, dirfd, path, flags);
}

/* move_mount(2): attaches (or moves) a mount; with the *_EMPTY_PATH flags, to and from fds. */
int oci_move_mount(int from_dirfd, const char *from_path, int to_dirfd, const char *to_path,
                   unsigned int flags)
{
    return (int)syscall(SYS_move_mount, from_dirfd, from_path, to_dirfd, to_path, flags);
}

/* ioprio_set(2): which/who as in the kernel (IOPRIO_WHO_PROCESS, 0 = the caller). */
int oci_ioprio_set(int which, int who, int ioprio)
{
    return (int)syscall(SYS_ioprio_set, which, who, ioprio);
}

/* sched_setattr(2) with struct sched_attr laid out as in the kernel's uapi (SCHED_ATTR_SIZE_VER1:
   the util clamp values stay 0); glibc 2.36 has no wrapper. */
struct oci_sched_attr {
    uint32_t size;
    uint32_t sched_policy;
    uint64_t sched_flags;
    int32_t sched_nice;
    uint32_t sched_priority;
    uint64_t sched_runtime;
    uint64_t sched_deadline;
    uint64_t sched_period;
    uint32_t sched_util_min;
    uint32_t sched_util_max;
};

int oci_sched_setattr(int pid, uint32_t policy, uint64_t flags, int32_t nice, uint32_t priority,
                      uint64_t runtime, uint64_t deadline, uint64_t period)
{
    struct oci_sched_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.size = sizeof(attr);
    attr.sched_policy = policy;
    attr.sched_flags = flags;
    attr.sched_nice = nice;
    attr.sched_priority = priority;
    attr.sched_runtime = runtime;
    attr.sched_deadline = deadline;
    attr.sched_period = period;
    return (int)syscall(SYS_sched_setattr, pid, &attr, 0);
}

/* personality(2): the execution domain, kept across execve. */
long oci_personality(unsigned long persona)
{
    return syscall(SYS_personality, persona);
}

/* set_mempolicy(2): the NUMA memory policy of the calling thread, kept by its children and
   across execve.  nodemask holds maxnode bits; the kernel ignores the last of them (callers
   pass one more than they mean). */
long oci_set_mempolicy(int mode, const unsigned long *nodemask, unsigned long maxnode)
{
    return syscall(SYS_set_mempolicy, mode, nodemask, maxnode);
}
