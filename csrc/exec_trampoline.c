/*
 * ociruntime-exec: the last program the container's init runs before process.args.
 *
 * Why it exists: the init is a forked Python runtime, so /proc/self/exe of the init is the
 * host's Python interpreter.  Were the init to execve(process.args) itself, an entrypoint
 * "#!/proc/self/exe" would run that host binary inside the container (CVE-2019-5736).  The
 * init instead execs this tiny static program from a sealed memfd; it performs the final
 * execve, so /proc/self/exe during and after that exec is a sealed, unwritable copy.
 *
 * Freestanding: no libc, six system calls.  Arguments:
 *   argv[0] = "ociruntime-exec", argv[1] = status fd (decimal) or "w<fd>", argv[2] = file
 *   to run, argv[3..] = the program's argv.
 * With "w<fd>" the program first waits on the listening socket <fd> for `ociruntime start`
 * to connect (the init is then this 9 KB program instead of a Python interpreter) and uses
 * the connection as the status fd.
 * The status fd is marked close-on-exec, so the runtime reads EOF once the exec succeeded;
 * on failure it reads "E<errno>" and this program exits 127 (not found) or 126.
 * Run any other way (e.g. as a script interpreter) it refuses and exits 126.
 */

#if defined(__x86_64__)
#define NR_close 3
#define NR_write 1
#define NR_fcntl 72
#define NR_execve 59
#define NR_exit_group 231
#define NR_accept4 288
static long sys4(long n, long a, long b, long c, long d)
{
    long ret;
    register long r10 __asm__("r10") = d;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10)
                     : "rcx", "r11", "memory");
    return ret;
}
__asm__(".text\n.global _start\n_start:\n\txor %rbp, %rbp\n\tmov %rsp, %rdi\n"
        "\tand $-16, %rsp\n\tcall trampoline_main\n\thlt\n");
#elif defined(__aarch64__)
#define NR_close 57
#define NR_write 64
#define NR_fcntl 25
#define NR_execve 221
#define NR_exit_group 94
#define NR_accept4 242
static long sys4(long n, long a, long b, long c, long d)
{
    register long x8 __asm__("x8") = n;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    register long x3 __asm__("x3") = d;
    __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3) : "memory");
    return x0;
}
__asm__(".text\n.global _start\n_start:\n\tmov x29, #0\n\tmov x30, #0\n\tmov x0, sp\n"
        "\tbl trampoline_main\n\tbrk #0\n");
#else
#error "ociruntime-exec: unsupported architecture"
#endif

#define sys3(n, a, b, c) sys4(n, a, b, c, 0)
#define F_SETFD 2
#define FD_CLOEXEC 1
#define ENOENT 2
#define EINTR 4
#define SOCK_CLOEXEC 02000000

static const char MAGIC[] = "ociruntime-exec";

static int equals(const char *a, const char *b)
{
    while (*a && *a == *b) {
        a++;
        b++;
    }
    return *a == *b;
}

static long length(const char *s)
{
    long n = 0;
    while (s[n])
        n++;
    return n;
}

static void fail(long fd, long err)
{
    char buf[24];
    int i = sizeof(buf);
    unsigned long v = (unsigned long)err;
    do {
        buf[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v && i > 1);
    buf[--i] = 'E';
    sys3(NR_write, fd, (long)(buf + i), (long)(sizeof(buf) - i));
    sys3(NR_exit_group, err == ENOENT ? 127 : 126, 0, 0);
}

__attribute__((used, noreturn)) void trampoline_main(long *stack)
{
    long argc = stack[0];
    char **argv = (char **)(stack + 1);
    char **envp = argv + argc + 1;
    long fd = 0;
    const char *p;
    int wait;

    if (argc < 4 || !equals(argv[0], MAGIC)) {
        static const char msg[] = "ociruntime-exec: refusing to run outside ociruntime's init\n";
        sys3(NR_write, 2, (long)msg, (long)(sizeof(msg) - 1));
        sys3(NR_exit_group, 126, 0, 0);
    }
    wait = argv[1][0] == 'w';
    for (p = argv[1] + wait; *p >= '0' && *p <= '9'; p++)
        fd = fd * 10 + (*p - '0');
    if (*p || length(argv[1]) == wait) {
        static const char msg[] = "ociruntime-exec: bad status fd\n";
        sys3(NR_write, 2, (long)msg, (long)(sizeof(msg) - 1));
        sys3(NR_exit_group, 126, 0, 0);
    }
    if (wait) {
        long listener = fd;
        do
            fd = sys4(NR_accept4, listener, 0, 0, SOCK_CLOEXEC);
        while (fd == -EINTR);
        if (fd < 0)
            sys3(NR_exit_group, 126, 0, 0);
        sys3(NR_close, listener, 0, 0);
    } else if (sys3(NR_fcntl, fd, F_SETFD, FD_CLOEXEC) < 0) {
        sys3(NR_exit_group, 126, 0, 0);
    }
    fail(fd, -sys3(NR_execve, (long)argv[2], (long)(argv + 3), (long)envp));
    for (;;)
        ;
}
