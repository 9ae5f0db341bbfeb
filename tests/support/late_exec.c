/* late_exec MILLISECONDS PROGRAM [ARG...]: run PROGRAM in a child that ptrace holds inside execve.
 *
 * The child asks to be traced and stops itself; the parent sets PTRACE_O_TRACEEXEC, so the child
 * stops at PTRACE_EVENT_EXEC, inside execve, before the syscall returns (and before the kernel
 * writes its audit records, whose time was taken at syscall entry). The parent prints
 * "stopped PID", waits MILLISECONDS, then lets it go and returns its exit status.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: late_exec MILLISECONDS PROGRAM [ARG...]\n");
        return 64;
    }
    useconds_t delay = (useconds_t)atoi(argv[1]) * 1000;
    pid_t child = fork();
    if (child < 0) return 65;
    if (child == 0) {
        if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) != 0) _exit(126);
        raise(SIGSTOP);
        execv(argv[2], argv + 2);
        _exit(127);
    }
    int status;
    if (waitpid(child, &status, 0) != child || !WIFSTOPPED(status)) return 66;
    if (ptrace(PTRACE_SETOPTIONS, child, NULL, (void *)PTRACE_O_TRACEEXEC) != 0) return 67;
    if (ptrace(PTRACE_CONT, child, NULL, NULL) != 0) return 68;
    if (waitpid(child, &status, 0) != child) return 69;
    if (!WIFSTOPPED(status) || status >> 8 != (SIGTRAP | (PTRACE_EVENT_EXEC << 8))) return 70;
    printf("stopped %d\n", (int)child);
    fflush(stdout);
    usleep(delay);
    if (ptrace(PTRACE_DETACH, child, NULL, NULL) != 0) return 71;
    if (waitpid(child, &status, 0) != child) return 72;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 73;
}
