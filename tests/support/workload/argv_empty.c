/* argv_empty PATH: execve(PATH, {NULL}, environ) -- an empty argv (the kernel then supplies ""). */
#include <stdio.h>
#include <unistd.h>

extern char **environ;

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: argv_empty PATH\n");
        return 2;
    }
    char *empty[] = {NULL};
    execve(argv[1], empty, environ);
    perror("execve");
    return 127;
}
