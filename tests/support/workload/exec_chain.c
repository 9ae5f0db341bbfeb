/* exec_chain N [PAYLOAD...]: exec itself (argv[0], which must be a path) with N-1, down to 0.
 * One process, N+1 exec events with known argv: the concurrent workload runs many at once. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

extern char **environ;

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: exec_chain N [PAYLOAD...]\n");
        return 2;
    }
    long n = strtol(argv[1], NULL, 10);
    if (n <= 0)
        return 0;
    char count[32];
    snprintf(count, sizeof count, "%ld", n - 1);
    argv[1] = count;
    execve(argv[0], argv, environ);
    perror("execve");
    return 127;
}
