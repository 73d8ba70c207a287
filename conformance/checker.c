/*
 * In-container checker of the ociruntime conformance suite.
 *
 * The suite compiles this file statically (gcc -static) and copies it into
 * every bundle's rootfs as /.ocic/checker.  It has two modes:
 *
 *   checker CHECK...      run each CHECK (NAME=PAYLOAD) in order and print
 *                         "PASS NAME=PAYLOAD" or "FAIL NAME=PAYLOAD: details"
 *                         per check, then "DONE <passed> <failed>"; the exit
 *                         status is 0 when nothing failed.
 *   checker hook LOG NAME [RC [SLEEP [DELAY_MS]]]
 *                         act as an OCI hook: read the state from stdin, wait
 *                         DELAY_MS, append one line describing the invocation
 *                         (argv, env, namespaces, pid, the state) to LOG,
 *                         sleep SLEEP seconds, exit RC.
 *
 * Payload fields are separated by ':'; the last field takes the rest of the
 * payload.  A field "*" matches anything.  The checks:
 *
 *   uid=N gid=N                 real, effective and saved ids
 *   groups=A,B,...              each listed gid is a supplementary group
 *   umask=OOOO                  Umask in /proc/self/status
 *   cwd=PATH                    getcwd()
 *   env=NAME=VALUE  noenv=NAME  the environment
 *   rlimit=NAME:SOFT:HARD       getrlimit (NAME as NOFILE, CORE, ...; unlimited)
 *   cap=SET:HEX                 Cap{Inh,Prm,Eff,Bnd,Amb} (SET inh|prm|eff|bnd|amb)
 *   nnp=N  seccomp=N            NoNewPrivs / Seccomp in /proc/self/status
 *   oom=N                       /proc/self/oom_score_adj
 *   hostname=H  domainname=D    uname()
 *   file=PATH:TEXT              file content (trailing whitespace ignored)
 *   wsfile=PATH:TEXT            content with runs of whitespace collapsed
 *   filehas=PATH:TEXT           content contains TEXT
 *   exists=PATH  absent=PATH    lstat()
 *   stat=PATH:TYPE:MODE:UID:GID:MAJOR:MINOR   TYPE one of f d c b p l s
 *   link=PATH:TARGET            readlink()
 *   mnt=DEST:FSTYPE:OPT,...     the top mount at DEST (mountinfo) has every OPT
 *                               in its mount or super options; !OPT: has not
 *   nomnt=DEST                  nothing is mounted at DEST
 *   prop=DEST:KIND              propagation of the top mount at DEST
 *                               (shared: in a peer group, maybe also a slave;
 *                               slave: has a master and no peers; private;
 *                               unbindable)
 *   rofs=PATH  rwfs=PATH        statvfs() ST_RDONLY set / clear
 *   masked=PATH                 a directory is empty / a file reads 0 bytes
 *   ns=TYPE:LINK nsne=TYPE:LINK /proc/self/ns/TYPE equals / differs
 *   pid=N                       getpid()
 *   fds=A,B,...                 exactly these fds are open
 *   sc=NAME[,ARG0]:EXPECT       do a raw syscall in a child; EXPECT is ok,
 *                               kill (killed by SIGSYS) or an errno number
 *   tty=FD  notty=FD            isatty()
 *   winsz=FD:ROWS:COLS          TIOCGWINSZ
 *   open=PATH:r|w|rw:EXPECT     open(); EXPECT ok, an errno number, or a
 *                               comma-separated list of them
 *   mknod=PATH:c|b:MAJ:MIN:EXPECT  mknod() (the node is removed again)
 *   touch=PATH:EXPECT           create and remove a file
 *   cgself=PATH                 every line of /proc/self/cgroup has PATH
 *   cgpath=CTRL:PATH            the line of CTRL ("" for the v2 one) has PATH
 *   forks=N:MAX                 at most MAX of N fork()s succeed
 *   append=PATH:TEXT            append TEXT and a newline to PATH
 *   sleep=SECONDS               sleep
 *   print=PATH                  print the file as INFO lines (never fails)
 *   notify=TEXT                 send TEXT as one datagram to $NOTIFY_SOCKET (sd_notify)
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/personality.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static int n_pass, n_fail;
static const char *cur;   /* the check being run, as given */

static void ok(void)
{
    printf("PASS %s\n", cur);
    n_pass++;
}

static void bad(const char *fmt, ...)
{
    va_list ap;
    printf("FAIL %s: ", cur);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    n_fail++;
}

static void verdict(int cond, const char *fmt, ...)
{
    va_list ap;
    if (cond) {
        ok();
        return;
    }
    printf("FAIL %s: ", cur);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    n_fail++;
}

/* Split s in place into at most n fields at ':'; the last one keeps the rest. */
static int split(char *s, char **f, int n)
{
    int i = 0;
    f[i++] = s;
    while (i < n) {
        char *c = strchr(f[i - 1], ':');
        if (!c)
            break;
        *c = 0;
        f[i++] = c + 1;
    }
    return i;
}

static int wild(const char *s) { return strcmp(s, "*") == 0; }

/* Read a whole file (at most 64 KiB) into a static buffer; NULL + errno on error. */
static char *slurp(const char *path, ssize_t *len)
{
    static char buf[65536];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = 0, r;
    if (fd < 0)
        return NULL;
    while (n < (ssize_t)sizeof(buf) - 1 && (r = read(fd, buf + n, sizeof(buf) - 1 - n)) > 0)
        n += r;
    close(fd);
    buf[n] = 0;
    if (len)
        *len = n;
    return buf;
}

static void rstrip(char *s)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        s[--n] = 0;
}

static void squash(char *s)  /* collapse whitespace runs to one space, trim */
{
    char *r = s, *w = s;
    int space = 1;
    for (; *r; r++) {
        if (*r == ' ' || *r == '\t' || *r == '\n' || *r == '\r') {
            if (!space)
                *w++ = ' ';
            space = 1;
        } else {
            *w++ = *r;
            space = 0;
        }
    }
    if (w > s && w[-1] == ' ')
        w--;
    *w = 0;
}

static void oneline(char *s)  /* newlines to spaces, for printing */
{
    for (; *s; s++)
        if (*s == '\n' || *s == '\t')
            *s = ' ';
}

/* Value of "Key:" in /proc/self/status. */
static int status_field(const char *key, char *out, size_t outlen)
{
    char *text = slurp("/proc/self/status", NULL);
    size_t kl = strlen(key);
    char *line;
    if (!text)
        return -1;
    for (line = text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
            char *v = line + kl + 1, *e;
            while (*v == ' ' || *v == '\t')
                v++;
            e = strchr(v, '\n');
            snprintf(out, outlen, "%.*s", e ? (int)(e - v) : (int)strlen(v), v);
            return 0;
        }
    }
    return -1;
}

static int in_list(long v, const char *list)
{
    char tmp[4096], *tok, *save;
    snprintf(tmp, sizeof(tmp), "%s", list);
    for (tok = strtok_r(tmp, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
        if (strtol(tok, NULL, 0) == v)
            return 1;
    return 0;
}

/* ---------------------------------------------------------------- checks */

static void c_ids(char *p, int group)
{
    uid_t r, e, s;
    long want = strtol(p, NULL, 10);
    if (group)
        getresgid(&r, &e, &s);
    else
        getresuid(&r, &e, &s);
    verdict((long)r == want && (long)e == want && (long)s == want,
            "real/effective/saved = %u/%u/%u", r, e, s);
}

static void c_groups(char *p)
{
    gid_t g[1024];
    int n = getgroups(1024, g), i;
    char have[4096] = "";
    char tmp[4096], *tok, *save;
    int missing = 0;
    for (i = 0; i < n; i++)
        snprintf(have + strlen(have), sizeof(have) - strlen(have), "%s%u", i ? "," : "", g[i]);
    snprintf(tmp, sizeof(tmp), "%s", p);
    for (tok = strtok_r(tmp, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        long want = strtol(tok, NULL, 10);
        int found = 0;
        for (i = 0; i < n; i++)
            if ((long)g[i] == want)
                found = 1;
        if (!found)
            missing = 1;
    }
    verdict(!missing, "supplementary groups are [%s]", have);
}

static void c_umask(char *p)
{
    char v[64];
    if (status_field("Umask", v, sizeof(v)) < 0) {
        bad("no Umask in /proc/self/status");
        return;
    }
    verdict(strtol(v, NULL, 8) == strtol(p, NULL, 8), "umask is %s", v);
}

static void c_cwd(char *p)
{
    char buf[PATH_MAX];
    if (!getcwd(buf, sizeof(buf))) {
        bad("getcwd: %s", strerror(errno));
        return;
    }
    verdict(strcmp(buf, p) == 0, "cwd is %s", buf);
}

static void c_env(char *p)
{
    char *eq = strchr(p, '='), *v;
    if (!eq) {
        bad("bad check");
        return;
    }
    *eq = 0;
    v = getenv(p);
    *eq = '=';
    if (!v)
        bad("not set");
    else
        verdict(strcmp(v, eq + 1) == 0, "value is \"%s\"", v);
}

static void c_noenv(char *p)
{
    char *v = getenv(p);
    verdict(v == NULL, "set to \"%s\"", v ? v : "");
}

static const struct { const char *name; int res; } rlimits[] = {
    {"CPU", RLIMIT_CPU}, {"FSIZE", RLIMIT_FSIZE}, {"DATA", RLIMIT_DATA},
    {"STACK", RLIMIT_STACK}, {"CORE", RLIMIT_CORE}, {"RSS", RLIMIT_RSS},
    {"NPROC", RLIMIT_NPROC}, {"NOFILE", RLIMIT_NOFILE}, {"MEMLOCK", RLIMIT_MEMLOCK},
    {"AS", RLIMIT_AS}, {"LOCKS", RLIMIT_LOCKS}, {"SIGPENDING", RLIMIT_SIGPENDING},
    {"MSGQUEUE", RLIMIT_MSGQUEUE}, {"NICE", RLIMIT_NICE}, {"RTPRIO", RLIMIT_RTPRIO},
    {"RTTIME", RLIMIT_RTTIME},
};

static unsigned long long rlim_parse(const char *s)
{
    if (strcmp(s, "unlimited") == 0)
        return (unsigned long long)RLIM_INFINITY;
    return strtoull(s, NULL, 0);
}

static void c_rlimit(char *p)
{
    char *f[3];
    struct rlimit rl;
    size_t i;
    if (split(p, f, 3) != 3) {
        bad("bad check");
        return;
    }
    for (i = 0; i < sizeof(rlimits) / sizeof(rlimits[0]); i++)
        if (strcmp(rlimits[i].name, f[0]) == 0)
            break;
    if (i == sizeof(rlimits) / sizeof(rlimits[0])) {
        bad("unknown rlimit");
        return;
    }
    getrlimit(rlimits[i].res, &rl);
    verdict((wild(f[1]) || rl.rlim_cur == rlim_parse(f[1])) &&
            (wild(f[2]) || rl.rlim_max == rlim_parse(f[2])),
            "soft %llu hard %llu", (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max);
}

static void c_cap(char *p)
{
    char *f[2], key[16], v[64];
    const char *sets[][2] = {{"inh", "CapInh"}, {"prm", "CapPrm"}, {"eff", "CapEff"},
                             {"bnd", "CapBnd"}, {"amb", "CapAmb"}};
    size_t i;
    if (split(p, f, 2) != 2) {
        bad("bad check");
        return;
    }
    key[0] = 0;
    for (i = 0; i < 5; i++)
        if (strcmp(sets[i][0], f[0]) == 0)
            snprintf(key, sizeof(key), "%s", sets[i][1]);
    if (!key[0] || status_field(key, v, sizeof(v)) < 0) {
        bad("cannot read %s", f[0]);
        return;
    }
    verdict(strtoull(v, NULL, 16) == strtoull(f[1], NULL, 16), "%s is %s", key, v);
}

static void c_status_num(const char *key, char *p)
{
    char v[64];
    if (status_field(key, v, sizeof(v)) < 0) {
        bad("no %s in /proc/self/status", key);
        return;
    }
    verdict(strtol(v, NULL, 10) == strtol(p, NULL, 10), "%s is %s", key, v);
}

static void c_oom(char *p)
{
    char *t = slurp("/proc/self/oom_score_adj", NULL);
    if (!t) {
        bad("cannot read oom_score_adj: %s", strerror(errno));
        return;
    }
    verdict(strtol(t, NULL, 10) == strtol(p, NULL, 10), "oom_score_adj is %ld", strtol(t, NULL, 10));
}

static void c_uname(char *p, int domain)
{
    struct utsname u;
    uname(&u);
    if (domain)
        verdict(strcmp(u.domainname, p) == 0, "domainname is \"%s\"", u.domainname);
    else
        verdict(strcmp(u.nodename, p) == 0, "hostname is \"%s\"", u.nodename);
}

static void c_file(char *p, int mode)  /* 0 exact, 1 squashed, 2 contains */
{
    char *f[2], *t, want[8192];
    if (split(p, f, 2) != 2) {
        bad("bad check");
        return;
    }
    t = slurp(f[0], NULL);
    if (!t) {
        bad("cannot read: %s", strerror(errno));
        return;
    }
    snprintf(want, sizeof(want), "%s", f[1]);
    if (mode == 2) {
        int found = strstr(t, want) != NULL;
        rstrip(t);
        oneline(t);
        verdict(found, "content is \"%.300s\"", t);
        return;
    }
    if (mode == 1) {
        squash(t);
        squash(want);
    } else {
        rstrip(t);
        rstrip(want);
    }
    oneline(t);
    verdict(strcmp(t, want) == 0, "content is \"%.300s\"", t);
}

static void c_exists(char *p, int want)
{
    struct stat st;
    int r = lstat(p, &st);
    if (want)
        verdict(r == 0, "lstat: %s", strerror(errno));
    else
        verdict(r < 0 && errno == ENOENT, r == 0 ? "exists" : "lstat: %s", strerror(errno));
}

static char ftype(mode_t m)
{
    return S_ISREG(m) ? 'f' : S_ISDIR(m) ? 'd' : S_ISCHR(m) ? 'c' : S_ISBLK(m) ? 'b'
         : S_ISFIFO(m) ? 'p' : S_ISLNK(m) ? 'l' : S_ISSOCK(m) ? 's' : '?';
}

static void c_stat(char *p)
{
    char *f[7];
    struct stat st;
    int n = split(p, f, 7), good = 1;
    if (lstat(f[0], &st) < 0) {
        bad("lstat: %s", strerror(errno));
        return;
    }
    if (n > 1 && !wild(f[1]) && f[1][0] != ftype(st.st_mode))
        good = 0;
    if (n > 2 && !wild(f[2]) && (long)(st.st_mode & 07777) != strtol(f[2], NULL, 8))
        good = 0;
    if (n > 3 && !wild(f[3]) && (long)st.st_uid != strtol(f[3], NULL, 10))
        good = 0;
    if (n > 4 && !wild(f[4]) && (long)st.st_gid != strtol(f[4], NULL, 10))
        good = 0;
    if (n > 5 && !wild(f[5]) && (long)major(st.st_rdev) != strtol(f[5], NULL, 10))
        good = 0;
    if (n > 6 && !wild(f[6]) && (long)minor(st.st_rdev) != strtol(f[6], NULL, 10))
        good = 0;
    verdict(good, "type %c mode %04o uid %u gid %u rdev %u:%u", ftype(st.st_mode),
            st.st_mode & 07777, st.st_uid, st.st_gid, major(st.st_rdev), minor(st.st_rdev));
}

static void c_link(char *p)
{
    char *f[2], buf[PATH_MAX];
    ssize_t n;
    if (split(p, f, 2) != 2) {
        bad("bad check");
        return;
    }
    n = readlink(f[0], buf, sizeof(buf) - 1);
    if (n < 0) {
        bad("readlink: %s", strerror(errno));
        return;
    }
    buf[n] = 0;
    verdict(strcmp(buf, f[1]) == 0, "points to %s", buf);
}

/* The last (top) mountinfo line whose mount point is dest, copied to out. */
static int find_mount(const char *dest, char *out, size_t outlen)
{
    char *t = slurp("/proc/self/mountinfo", NULL), *line, *next;
    int found = 0;
    if (!t)
        return 0;
    for (line = t; line && *line; line = next) {
        char mp[PATH_MAX];
        next = strchr(line, '\n');
        if (next)
            *next++ = 0;
        if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) == 1) {
            /* unescape \040 etc. */
            char un[PATH_MAX], *r = mp, *w = un;
            while (*r) {
                if (r[0] == '\\' && r[1] >= '0' && r[1] <= '7' && r[2] && r[3]) {
                    *w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
                    r += 4;
                } else
                    *w++ = *r++;
            }
            *w = 0;
            if (strcmp(un, dest) == 0) {
                snprintf(out, outlen, "%s", line);
                found = 1;
            }
        }
    }
    return found;
}

static int has_opt(const char *opts, const char *opt)
{
    char tmp[4096], *tok, *save;
    snprintf(tmp, sizeof(tmp), "%s", opts);
    for (tok = strtok_r(tmp, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
        if (strcmp(tok, opt) == 0)
            return 1;
    return 0;
}

/* Split a mountinfo line into mount options, optional fields, fstype, super options. */
static void mount_parts(char *line, char **mopts, char **optional, char **fstype, char **sopts)
{
    char *tok, *save, *sep = strstr(line, " - ");
    int i = 0;
    static char empty[] = "";
    *mopts = *optional = *fstype = *sopts = empty;
    if (!sep)
        return;
    *sep = 0;
    for (tok = strtok_r(line, " ", &save); tok; tok = strtok_r(NULL, " ", &save), i++) {
        if (i == 5)
            *mopts = tok;
        else if (i == 6) {
            *optional = tok;  /* the rest, rejoined with spaces */
            while ((tok = strtok_r(NULL, " ", &save)))
                tok[-1] = ' ';
            break;
        }
    }
    *fstype = strtok_r(sep + 3, " ", &save);
    strtok_r(NULL, " ", &save);  /* source */
    tok = strtok_r(NULL, " ", &save);
    if (tok)
        *sopts = tok;
    if (!*fstype)
        *fstype = empty;
}

static void c_mnt(char *p)
{
    char *f[3], line[8192], shown[8192], *mopts, *optional, *fstype, *sopts;
    char tmp[4096], *tok, *save, missing[4096] = "";
    int n = split(p, f, 3);
    if (!find_mount(f[0], line, sizeof(line))) {
        bad("nothing mounted there");
        return;
    }
    snprintf(shown, sizeof(shown), "%s", line);
    mount_parts(line, &mopts, &optional, &fstype, &sopts);
    if (n > 1 && !wild(f[1]) && strcmp(fstype, f[1]) != 0) {
        bad("fstype %s (%s)", fstype, shown);
        return;
    }
    if (n > 2) {
        snprintf(tmp, sizeof(tmp), "%s", f[2]);
        for (tok = strtok_r(tmp, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            int neg = tok[0] == '!';
            const char *o = neg ? tok + 1 : tok;
            int have = has_opt(mopts, o) || has_opt(sopts, o);
            if (have == neg)
                snprintf(missing + strlen(missing), sizeof(missing) - strlen(missing), " %s", tok);
        }
    }
    verdict(!missing[0], "option(s)%s not satisfied: %s", missing, shown);
}

static void c_nomnt(char *p)
{
    char line[8192];
    verdict(!find_mount(p, line, sizeof(line)), "mounted: %s", line);
}

static void c_prop(char *p)
{
    char *f[2], line[8192], shown[8192], *mopts, *optional, *fstype, *sopts;
    const char *kind;
    if (split(p, f, 2) != 2) {
        bad("bad check");
        return;
    }
    if (!find_mount(f[0], line, sizeof(line))) {
        bad("nothing mounted there");
        return;
    }
    snprintf(shown, sizeof(shown), "%s", line);
    mount_parts(line, &mopts, &optional, &fstype, &sopts);
    {
        int sh = strstr(optional, "shared:") != NULL, sl = strstr(optional, "master:") != NULL;
        int unb = strstr(optional, "unbindable") != NULL;
        kind = unb ? "unbindable" : (sh && sl) ? "shared+slave" : sh ? "shared" : sl ? "slave" : "private";
        /* a mount that is shared and a slave counts as shared (MS_SHARED on a slave) */
        if (!strcmp(f[1], "shared") && sh)
            kind = "shared";
    }
    verdict(strcmp(kind, f[1]) == 0, "propagation is %s (%s)", kind, shown);
}

static void c_rofs(char *p, int want_ro)
{
    struct statvfs sv;
    if (statvfs(p, &sv) < 0) {
        bad("statvfs: %s", strerror(errno));
        return;
    }
    verdict(!!(sv.f_flag & ST_RDONLY) == want_ro, "%s", (sv.f_flag & ST_RDONLY) ? "read-only" : "writable");
}

static void c_masked(char *p)
{
    struct stat st;
    if (stat(p, &st) < 0) {
        /* not there at all is not "masked over" but hides nothing either */
        bad("stat: %s", strerror(errno));
        return;
    }
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(p);
        struct dirent *de;
        int n = 0;
        char first[256] = "";
        if (!d) {
            ok();  /* cannot be read at all */
            return;
        }
        while ((de = readdir(d)))
            if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
                if (!n)
                    snprintf(first, sizeof(first), "%s", de->d_name);
                n++;
            }
        closedir(d);
        verdict(n == 0, "directory lists %d entries (first: %s)", n, first);
    } else {
        char buf[64];
        int fd = open(p, O_RDONLY | O_NONBLOCK);
        ssize_t r;
        if (fd < 0) {
            ok();  /* cannot be read at all */
            return;
        }
        r = read(fd, buf, sizeof(buf));
        close(fd);
        verdict(r <= 0, "read %zd bytes", r);
    }
}

static void c_ns(char *p, int equal)
{
    char *f[2], path[64], buf[256];
    ssize_t n;
    if (split(p, f, 2) != 2) {
        bad("bad check");
        return;
    }
    snprintf(path, sizeof(path), "/proc/self/ns/%s", f[0]);
    n = readlink(path, buf, sizeof(buf) - 1);
    if (n < 0) {
        bad("readlink %s: %s", path, strerror(errno));
        return;
    }
    buf[n] = 0;
    verdict((strcmp(buf, f[1]) == 0) == equal, "namespace is %s", buf);
}

static void c_fds(char *p)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *de;
    char have[4096] = "";
    int good = 1, self, count = 0, want = 0;
    char tmp[4096], *tok, *save;
    if (!d) {
        bad("opendir /proc/self/fd: %s", strerror(errno));
        return;
    }
    self = dirfd(d);
    while ((de = readdir(d))) {
        int fd;
        if (de->d_name[0] == '.')
            continue;
        fd = atoi(de->d_name);
        if (fd == self)
            continue;
        {
            char lp[64], target[256];
            ssize_t n;
            snprintf(lp, sizeof(lp), "/proc/self/fd/%d", fd);
            n = readlink(lp, target, sizeof(target) - 1);
            target[n > 0 ? n : 0] = 0;
            snprintf(have + strlen(have), sizeof(have) - strlen(have), " %d->%s", fd, target);
        }
        count++;
        if (!in_list(fd, p))
            good = 0;
    }
    closedir(d);
    snprintf(tmp, sizeof(tmp), "%s", p);
    for (tok = strtok_r(tmp, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
        want++;
    verdict(good && count == want, "open fds:%s", have);
}

static long do_syscall(const char *name, long arg, int have_arg)
{
    char buf[PATH_MAX];
    struct utsname u;
    if (!strcmp(name, "getcwd"))
        return syscall(SYS_getcwd, buf, sizeof(buf));
    if (!strcmp(name, "uname"))
        return syscall(SYS_uname, &u);
    if (!strcmp(name, "getpid"))
        return syscall(SYS_getpid);
    if (!strcmp(name, "getppid"))
        return syscall(SYS_getppid);
    if (!strcmp(name, "chdir"))
        return syscall(SYS_chdir, "/");
    if (!strcmp(name, "sync"))
        return syscall(SYS_sync);
    if (!strcmp(name, "umask"))
        return syscall(SYS_umask, have_arg ? arg : 022);
    if (!strcmp(name, "personality"))
        return syscall(SYS_personality, have_arg ? arg : 0xffffffffL);
    if (!strcmp(name, "getpriority"))
        return syscall(SYS_getpriority, PRIO_PROCESS, 0);
    errno = ENOSYS + 100000;  /* marks "unknown to the checker" */
    return -1;
}

static void c_sc(char *p)
{
    char *f[2], *comma, name[64];
    long arg = 0;
    int have_arg = 0, status;
    pid_t pid;
    if (split(p, f, 2) != 2) {
        bad("bad check");
        return;
    }
    comma = strchr(f[0], ',');
    if (comma) {
        *comma = 0;
        arg = strtol(comma + 1, NULL, 0);
        have_arg = 1;
    }
    snprintf(name, sizeof(name), "%s", f[0]);
    fflush(stdout);
    pid = fork();
    if (pid < 0) {
        bad("fork: %s", strerror(errno));
        return;
    }
    if (pid == 0) {
        long r = do_syscall(name, arg, have_arg);
        if (r == -1)
            _exit(errno == ENOSYS + 100000 ? 255 : (errno & 0xff) ? errno : 254);
        _exit(0);
    }
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (WIFSIGNALED(status)) {
        verdict(!strcmp(f[1], "kill") && WTERMSIG(status) == SIGSYS,
                "killed by signal %d", WTERMSIG(status));
        return;
    }
    if (WEXITSTATUS(status) == 255) {
        bad("syscall unknown to the checker");
        return;
    }
    if (!strcmp(f[1], "ok"))
        verdict(WEXITSTATUS(status) == 0, "failed with errno %d", WEXITSTATUS(status));
    else if (!strcmp(f[1], "kill"))
        bad(WEXITSTATUS(status) ? "failed with errno %d" : "succeeded", WEXITSTATUS(status));
    else
        verdict(WEXITSTATUS(status) == atoi(f[1]),
                WEXITSTATUS(status) ? "failed with errno %d" : "succeeded", WEXITSTATUS(status));
}

static void c_tty(char *p, int want)
{
    int fd = atoi(p);
    int is = isatty(fd);
    verdict(is == want, is ? "fd %d is a tty" : "fd %d is not a tty", fd);
}

static void c_winsz(char *p)
{
    char *f[3];
    struct winsize ws;
    if (split(p, f, 3) != 3) {
        bad("bad check");
        return;
    }
    if (ioctl(atoi(f[0]), TIOCGWINSZ, &ws) < 0) {
        bad("TIOCGWINSZ: %s", strerror(errno));
        return;
    }
    verdict(ws.ws_row == atoi(f[1]) && ws.ws_col == atoi(f[2]), "size is %d rows %d cols",
            ws.ws_row, ws.ws_col);
}

/* want: "ok", an errno number, or a comma-separated list of those */
static void expect_result(int r, int err, const char *want)
{
    char tmp[256], *tok, *save;
    int good = 0;
    snprintf(tmp, sizeof(tmp), "%s", want);
    for (tok = strtok_r(tmp, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (!strcmp(tok, "ok") ? r == 0 : (r < 0 && err == atoi(tok)))
            good = 1;
    }
    verdict(good, r == 0 ? "succeeded" : "failed: %s (errno %d)", strerror(err), err);
}

static void c_open(char *p)
{
    char *f[3];
    int flags, fd, err;
    if (split(p, f, 3) != 3) {
        bad("bad check");
        return;
    }
    flags = !strcmp(f[1], "rw") ? O_RDWR : !strcmp(f[1], "w") ? O_WRONLY : O_RDONLY;
    fd = open(f[0], flags | O_NONBLOCK | O_NOCTTY);
    err = errno;
    if (fd >= 0)
        close(fd);
    expect_result(fd < 0 ? -1 : 0, err, f[2]);
}

static void c_mknod(char *p)
{
    char *f[5];
    int r, err;
    if (split(p, f, 5) != 5) {
        bad("bad check");
        return;
    }
    r = mknod(f[0], (f[1][0] == 'b' ? S_IFBLK : S_IFCHR) | 0600, makedev(atoi(f[2]), atoi(f[3])));
    err = errno;
    if (r == 0)
        unlink(f[0]);
    expect_result(r, err, f[4]);
}

static void c_touch(char *p)
{
    char *f[2];
    int fd, err;
    if (split(p, f, 2) != 2) {
        bad("bad check");
        return;
    }
    fd = open(f[0], O_WRONLY | O_CREAT | O_EXCL, 0644);
    err = errno;
    if (fd >= 0) {
        close(fd);
        unlink(f[0]);
    }
    expect_result(fd < 0 ? -1 : 0, err, f[1]);
}

static void c_cgroup(char *p, int by_ctrl)
{
    char *t = slurp("/proc/self/cgroup", NULL), *line, *next, *f[2];
    char want_ctrl[256] = "", shown[4096] = "";
    const char *want_path;
    int good = 1, seen = 0;
    if (!t) {
        bad("cannot read /proc/self/cgroup: %s", strerror(errno));
        return;
    }
    if (by_ctrl) {
        if (split(p, f, 2) != 2) {
            bad("bad check");
            return;
        }
        snprintf(want_ctrl, sizeof(want_ctrl), "%s", f[0]);
        want_path = f[1];
    } else
        want_path = p;
    for (line = t; line && *line; line = next) {
        char *c1, *c2;
        next = strchr(line, '\n');
        if (next)
            *next++ = 0;
        c1 = strchr(line, ':');
        c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2)
            continue;
        *c2 = 0;
        if (by_ctrl && !has_opt(c1 + 1, want_ctrl) && !(want_ctrl[0] == 0 && c1[1] == 0))
            continue;
        seen = 1;
        snprintf(shown + strlen(shown), sizeof(shown) - strlen(shown), " %s:%s", c1 + 1, c2 + 1);
        if (strcmp(c2 + 1, want_path) != 0)
            good = 0;
    }
    verdict(good && seen, "cgroups:%s", shown);
}

static void c_forks(char *p)
{
    char *f[2];
    pid_t kids[512];
    int n, max, got = 0, i;
    if (split(p, f, 2) != 2) {
        bad("bad check");
        return;
    }
    n = atoi(f[0]);
    max = atoi(f[1]);
    if (n > 512)
        n = 512;
    fflush(stdout);
    for (i = 0; i < n; i++) {
        pid_t k = fork();
        if (k == 0) {
            pause();
            _exit(0);
        }
        if (k < 0)
            break;
        kids[got++] = k;
    }
    for (i = 0; i < got; i++) {
        kill(kids[i], SIGKILL);
        waitpid(kids[i], NULL, 0);
    }
    verdict(got <= max, "%d of %d forks succeeded", got, n);
}

static void c_append(char *p)
{
    char *f[2], line[4096];
    int fd;
    if (split(p, f, 2) != 2) {
        bad("bad check");
        return;
    }
    fd = open(f[0], O_WRONLY | O_APPEND | O_CREAT, 0644);
    if (fd < 0) {
        bad("open: %s", strerror(errno));
        return;
    }
    snprintf(line, sizeof(line), "%s\n", f[1]);
    verdict(write(fd, line, strlen(line)) == (ssize_t)strlen(line), "write: %s", strerror(errno));
    close(fd);
}

static void c_print(char *p)
{
    char *t = slurp(p, NULL), *line, *next;
    if (!t) {
        printf("INFO %s: %s\n", p, strerror(errno));
        return;
    }
    for (line = t; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = 0;
        printf("INFO %s: %s\n", p, line);
    }
}

static void c_notify(char *p)
{
    const char *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd, sent;
    if (!path || strlen(path) >= sizeof(sa.sun_path)) {
        bad("NOTIFY_SOCKET is %s", path ? path : "unset");
        return;
    }
    strcpy(sa.sun_path, path);
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sent = fd >= 0 && sendto(fd, p, strlen(p), 0, (struct sockaddr *)&sa, sizeof(sa)) >= 0;
    verdict(sent, "sending to %s: %s", path, strerror(errno));
    if (fd >= 0)
        close(fd);
}

static void run_check(char *arg)
{
    char copy[8192], *eq, *name, *p;
    snprintf(copy, sizeof(copy), "%s", arg);
    cur = arg;
    eq = strchr(copy, '=');
    if (!eq) {
        bad("no '=' in check");
        return;
    }
    *eq = 0;
    name = copy;
    p = eq + 1;
    if (!strcmp(name, "uid")) c_ids(p, 0);
    else if (!strcmp(name, "gid")) c_ids(p, 1);
    else if (!strcmp(name, "groups")) c_groups(p);
    else if (!strcmp(name, "umask")) c_umask(p);
    else if (!strcmp(name, "cwd")) c_cwd(p);
    else if (!strcmp(name, "env")) c_env(p);
    else if (!strcmp(name, "noenv")) c_noenv(p);
    else if (!strcmp(name, "rlimit")) c_rlimit(p);
    else if (!strcmp(name, "cap")) c_cap(p);
    else if (!strcmp(name, "nnp")) c_status_num("NoNewPrivs", p);
    else if (!strcmp(name, "seccomp")) c_status_num("Seccomp", p);
    else if (!strcmp(name, "oom")) c_oom(p);
    else if (!strcmp(name, "hostname")) c_uname(p, 0);
    else if (!strcmp(name, "domainname")) c_uname(p, 1);
    else if (!strcmp(name, "file")) c_file(p, 0);
    else if (!strcmp(name, "wsfile")) c_file(p, 1);
    else if (!strcmp(name, "filehas")) c_file(p, 2);
    else if (!strcmp(name, "exists")) c_exists(p, 1);
    else if (!strcmp(name, "absent")) c_exists(p, 0);
    else if (!strcmp(name, "stat")) c_stat(p);
    else if (!strcmp(name, "link")) c_link(p);
    else if (!strcmp(name, "mnt")) c_mnt(p);
    else if (!strcmp(name, "nomnt")) c_nomnt(p);
    else if (!strcmp(name, "prop")) c_prop(p);
    else if (!strcmp(name, "rofs")) c_rofs(p, 1);
    else if (!strcmp(name, "rwfs")) c_rofs(p, 0);
    else if (!strcmp(name, "masked")) c_masked(p);
    else if (!strcmp(name, "ns")) c_ns(p, 1);
    else if (!strcmp(name, "nsne")) c_ns(p, 0);
    else if (!strcmp(name, "pid")) verdict(getpid() == atoi(p), "pid is %d", getpid());
    else if (!strcmp(name, "fds")) c_fds(p);
    else if (!strcmp(name, "sc")) c_sc(p);
    else if (!strcmp(name, "tty")) c_tty(p, 1);
    else if (!strcmp(name, "notty")) c_tty(p, 0);
    else if (!strcmp(name, "winsz")) c_winsz(p);
    else if (!strcmp(name, "open")) c_open(p);
    else if (!strcmp(name, "mknod")) c_mknod(p);
    else if (!strcmp(name, "touch")) c_touch(p);
    else if (!strcmp(name, "cgself")) c_cgroup(p, 0);
    else if (!strcmp(name, "cgpath")) c_cgroup(p, 1);
    else if (!strcmp(name, "forks")) c_forks(p);
    else if (!strcmp(name, "append")) c_append(p);
    else if (!strcmp(name, "sleep")) { sleep(atoi(p)); ok(); }
    else if (!strcmp(name, "print")) c_print(p);
    else if (!strcmp(name, "notify")) c_notify(p);
    else bad("unknown check");
}

/* ------------------------------------------------------------ hook mode */

static void put_escaped(char *out, size_t outlen, const char *s)
{
    size_t n = strlen(out);
    for (; *s && n + 2 < outlen; s++) {
        if (*s == '\n' || *s == '\t' || *s == '\x1f')
            out[n++] = ' ';
        else
            out[n++] = *s;
    }
    out[n] = 0;
}

static int hook_mode(int argc, char **argv)
{
    static char line[262144], in[131072];
    const char *nss[] = {"mnt", "pid", "net", "ipc", "uts", "user", "cgroup"};
    ssize_t n = 0, r;
    int fd, i, rc = argc > 4 ? atoi(argv[4]) : 0, delay = argc > 5 ? atoi(argv[5]) : 0;
    int predelay_ms = argc > 6 ? atoi(argv[6]) : 0;
    char **e;
    if (argc < 4)
        return 2;
    while (n < (ssize_t)sizeof(in) - 1 && (r = read(0, in + n, sizeof(in) - 1 - n)) > 0)
        n += r;
    in[n] = 0;
    if (predelay_ms) {  /* make a race with other hooks deterministic */
        struct timespec ts = {predelay_ms / 1000, (predelay_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    snprintf(line, sizeof(line), "HOOK\t%s\tself=%d", argv[3], getpid());
    for (i = 0; i < 7; i++) {
        char path[64], buf[256];
        ssize_t l;
        snprintf(path, sizeof(path), "/proc/self/ns/%s", nss[i]);
        l = readlink(path, buf, sizeof(buf) - 1);
        buf[l > 0 ? l : 0] = 0;
        snprintf(line + strlen(line), sizeof(line) - strlen(line), "\t%s=%s", nss[i], buf);
    }
    strcat(line, "\targv=");
    for (i = 0; i < argc; i++) {
        if (i)
            strcat(line, "\x1f");
        put_escaped(line, sizeof(line), argv[i]);
    }
    strcat(line, "\tenv=");
    for (e = environ; *e; e++) {
        if (e != environ)
            strcat(line, "\x1f");
        put_escaped(line, sizeof(line), *e);
    }
    strcat(line, "\tstdin=");
    put_escaped(line, sizeof(line), in);
    strcat(line, "\n");
    fd = open(argv[2], O_WRONLY | O_APPEND | O_CREAT, 0644);
    if (fd >= 0) {
        if (write(fd, line, strlen(line)) < 0)
            rc = rc ? rc : 3;
        close(fd);
    }
    if (delay)
        sleep(delay);
    return rc;
}

int main(int argc, char **argv)
{
    int i;
    if (argc > 1 && !strcmp(argv[1], "hook"))
        return hook_mode(argc, argv);
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (i = 1; i < argc; i++)
        run_check(argv[i]);
    printf("DONE %d %d\n", n_pass, n_fail);
    fflush(stdout);
    return n_fail ? 1 : 0;
}
