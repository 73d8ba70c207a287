/*
 * ociruntime: the console script, a launcher for the Python package.
 *
 * Why it exists: engines start the runtime four or five times per container, so the start
 * of the interpreter is on every call's path.  pip's generated script runs `#!python`
 * without flags, and then the interpreter imports `site` and every `.pth` hook of the venv
 * (about 5 ms here) before the script's first line.  This launcher starts the same venv's
 * interpreter with
 *   -I  isolated: no PYTHON* variables, no user site, and no current directory on sys.path
 *       (a caller's cwd holding an `os.py` must not be imported by a root process);
 *   -S  no `site`: the launcher's code adds the venv's site-packages itself;
 *   -B  no bytecode written: an engine's call must not change the installed package.
 *
 * The interpreter is `python3` beside the launcher's real path (a venv's bin/), found through
 * /proc/self/exe so that a symlink such as /usr/local/bin/ociruntime works; else the
 * interpreter that built it.  When the package is not in the venv's site-packages (another
 * install scheme), the code falls back to `site` before importing it.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#ifndef BUILD_PYTHON
#error "BUILD_PYTHON (the interpreter that built the package) must be defined"
#endif

static const char code[] =
    "import sys\n"
    "del sys.argv[0]\n"
    "sys.path.append('%s/lib/python%d.%d/site-packages' % (sys.executable.rsplit('/', 2)[0],"
    " *sys.version_info[:2]))\n"
    "try:\n"
    "    from ociruntime.commands import main\n"
    "except ImportError:\n"
    "    import site\n"
    "    site.main()\n"
    "    from ociruntime.commands import main\n"
    "main()\n";

int main(int argc, char **argv)
{
    char self[PATH_MAX], python[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    char *slash;
    char *args[argc + 7];
    int i;

    if (n <= 0) {
        fprintf(stderr, "ociruntime: cannot find the launcher's path: /proc/self/exe: %s\n",
                strerror(errno));
        return 255;
    }
    self[n] = '\0';
    slash = strrchr(self, '/');
    if (snprintf(python, sizeof(python), "%.*s/python3", (int)(slash - self), self) >= (int)sizeof(python)
        || access(python, X_OK) != 0)
        snprintf(python, sizeof(python), "%s", BUILD_PYTHON);
    args[0] = python;
    args[1] = "-I";
    args[2] = "-S";
    args[3] = "-B";
    args[4] = "-c";
    args[5] = (char *)code;
    args[6] = argv[0];  /* sys.argv[0] once the code drops "-c" */
    for (i = 1; i < argc; i++)
        args[6 + i] = argv[i];
    args[6 + argc] = NULL;
    execv(python, args);
    fprintf(stderr, "ociruntime: cannot start the interpreter %s: %s\n", python, strerror(errno));
    return 255;
}
