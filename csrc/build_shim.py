"""cffi build script for ociruntime._shim_c (API mode, compiled at install time)."""

import os

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))

ffibuilder = FFI()
ffibuilder.cdef(
    """
    int oci_unshare(int flags);
    int oci_setns(int fd, int nstype);
    int oci_pivot_root(const char *new_root, const char *put_old);
    int oci_mount(const char *source, const char *target, const char *fstype,
                  unsigned long flags, const char *data);
    int oci_umount2(const char *target, int flags);
    int oci_setdomainname(const char *name, size_t len);
    int oci_sethostname(const char *name, size_t len);
    int oci_prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4,
                  unsigned long a5);
    int oci_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode,
                    uint64_t resolve);
    int oci_close_range(unsigned int first, unsigned int last, unsigned int flags);
    int oci_capset(uint64_t effective, uint64_t permitted, uint64_t inheritable);
    long oci_join_session_keyring(const char *name, unsigned int setbits);
    long oci_fstatfs_type(int fd);
    long oci_bpf(int cmd, void *attr, unsigned int size);
    int oci_mount_setattr(int dirfd, const char *path, unsigned int flags, uint64_t attr_set,
                          uint64_t attr_clr, uint64_t userns_fd);
    int oci_open_tree(int dirfd, const char *path, unsigned int flags);
    int oci_move_mount(int from_dirfd, const char *from_path, int to_dirfd, const char *to_path,
                       unsigned int flags);
    int oci_ioprio_set(int which, int who, int ioprio);
    int oci_sched_setattr(int pid, uint32_t policy, uint64_t flags, int32_t nice,
                          uint32_t priority, uint64_t runtime, uint64_t deadline,
                          uint64_t period);
    long oci_personality(unsigned long persona);
    long oci_set_mempolicy(int mode, const unsigned long *nodemask, unsigned long maxnode);
    """
)
with open(os.path.join(HERE, "shim.c"), encoding="utf-8") as source:
    ffibuilder.set_source("ociruntime._shim_c", source.read(), extra_compile_args=["-O2"])

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
