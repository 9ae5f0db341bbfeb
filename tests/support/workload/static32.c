/* static32 [-f] PATH ARGV0 [ARG...]: a 32-bit static binary (gcc -m32 -static) that execs PATH.
 * Without -f it calls execve (i386 syscall 11); with -f it opens PATH and calls fexecve, which
 * glibc implements with execveat (i386 syscall 358). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

int main(int argc, char **argv) {
    int use_fd = argc > 1 && strcmp(argv[1], "-f") == 0;
    char **args = argv + 1 + use_fd;
    if (argc - 1 - use_fd < 2) {
        fprintf(stderr, "usage: static32 [-f] PATH ARGV0 [ARG...]\n");
        return 2;
    }
    if (use_fd) {
        int fd = open(args[0], O_RDONLY);
        if (fd < 0) {
            perror("open");
            return 126;
        }
        fexecve(fd, args + 1, environ);
    } else {
        execve(args[0], args + 1, environ);
    }
    perror("exec");
    return 127;
}
