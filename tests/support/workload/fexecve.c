/* fexecve PATH ARGV0 [ARG...]: open PATH and fexecve it (glibc uses execveat(fd, "", AT_EMPTY_PATH)). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

extern char **environ;

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: fexecve PATH ARGV0 [ARG...]\n");
        return 2;
    }
    int fd = open(argv[1], O_RDONLY);
    if (fd < 0) {
        perror("open");
        return 126;
    }
    fexecve(fd, argv + 2, environ);
    perror("fexecve");
    return 127;
}
