/* execveat_dirfd DIR NAME ARGV0 [ARG...]: execveat(open(DIR), NAME, argv) with NAME relative to DIR. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

extern char **environ;

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: execveat_dirfd DIR NAME ARGV0 [ARG...]\n");
        return 2;
    }
    int dirfd = open(argv[1], O_RDONLY | O_DIRECTORY);
    if (dirfd < 0) {
        perror("open");
        return 126;
    }
    syscall(SYS_execveat, dirfd, argv[2], argv + 3, environ, 0);
    perror("execveat");
    return 127;
}
