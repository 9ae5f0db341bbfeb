/* fexec [--memfd] PATH ARGV0 [ARG...]: run PATH through fexecve(), which glibc implements as
 * execveat(fd, "", AT_EMPTY_PATH) -- from the file itself, or (--memfd) from a copy of it in an
 * anonymous memory file, as fileless malware does. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

extern char **environ;

int main(int argc, char **argv) {
    int memfd = argc > 1 && strcmp(argv[1], "--memfd") == 0;
    if (argc < 3 + memfd) {
        fprintf(stderr, "usage: fexec [--memfd] PATH ARGV0 [ARG...]\n");
        return 2;
    }
    int fd = open(argv[1 + memfd], O_RDONLY);
    if (fd < 0) {
        perror("open");
        return 126;
    }
    if (memfd) {
        struct stat st;
        int copy = memfd_create("payload", 0);
        if (copy < 0 || fstat(fd, &st) < 0 || sendfile(copy, fd, NULL, st.st_size) != st.st_size) {
            perror("memfd copy");
            return 126;
        }
        close(fd);
        fd = copy;
    }
    fexecve(fd, argv + 2 + memfd, environ);
    perror("fexecve");
    return 127;
}
