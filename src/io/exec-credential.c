/* Exec credential plugins on the event loop; see exec-credential.h. The plugin's stdout is
 * collected (at most 1 MiB) through a non-blocking pipe; its exit is observed through a pidfd
 * so that no SIGCHLD handling is needed; it is reaped with waitpid() only once it has exited,
 * so the loop never waits. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "canaryd/exec-credential.h"
#include "canaryd/util.h"

#define OUTPUT_MAX      (1024u * 1024u)
#define DEFAULT_TIMEOUT (60 * USEC_PER_SEC)

extern char **environ;

struct exec_run {
        exec_run_done_fn *done;
        void *userdata;
        char *api_version;
        char *command; /* for messages */
        pid_t pid;
        int out_fd, pid_fd;
        sd_event_source *out_source, *pid_source, *timer;
        struct buf out;
        bool eof, exited, too_big;
        int wait_status;
};

static void run_free(struct exec_run *r)
{
        r->out_source = sd_event_source_disable_unref(r->out_source);
        r->pid_source = sd_event_source_disable_unref(r->pid_source);
        r->timer = sd_event_source_disable_unref(r->timer);
        if (r->out_fd >= 0)
                close(r->out_fd);
        if (r->pid_fd >= 0)
                close(r->pid_fd);
        if (r->out.data)
                explicit_bzero(r->out.data, r->out.len); /* it holds the credential */
        buf_free(&r->out);
        free(r->api_version);
        free(r->command);
        free(r);
}

struct exec_run *exec_run_cancel(struct exec_run *r)
{
        if (!r)
                return NULL;
        if (r->pid > 0 && !r->exited) {
                kill(r->pid, SIGKILL);
                /* SIGKILL cannot be caught: the wait is short, and it avoids a zombie */
                waitpid(r->pid, NULL, 0);
        }
        run_free(r);
        return NULL;
}

static void finish(struct exec_run *r, int error, const char *msg)
{
        struct kube_exec_credential cred = {0};
        char *err = NULL;

        if (error == 0) {
                if (r->too_big) {
                        error = -EFBIG;
                        err = xasprintf("exec plugin %s printed more than 1 MiB", r->command);
                } else if (!WIFEXITED(r->wait_status) || WEXITSTATUS(r->wait_status) != 0) {
                        error = -EPROTO;
                        err = WIFEXITED(r->wait_status)
                                  ? xasprintf("exec plugin %s exited with status %d", r->command,
                                              WEXITSTATUS(r->wait_status))
                                  : xasprintf("exec plugin %s was killed by signal %d", r->command,
                                              WTERMSIG(r->wait_status));
                } else {
                        char *perr = NULL;
                        error =
                            kube_exec_credential_parse(r->out.data ? r->out.data : "", r->out.len,
                                                       r->api_version, &cred, &perr);
                        if (error < 0)
                                err = xasprintf("exec plugin %s: %s", r->command,
                                                perr ? perr : "bad output");
                        free(perr);
                }
        } else {
                err = xasprintf("exec plugin %s: %s", r->command, msg);
        }
        r->done(error, error == 0 ? &cred : NULL, err, r->userdata);
        kube_exec_credential_done(&cred);
        free(err);
        run_free(r);
}

static void maybe_finish(struct exec_run *r)
{
        if (!r->eof || !r->exited)
                return;
        finish(r, 0, NULL);
}

static void reap(struct exec_run *r)
{
        int status = 0;
        pid_t p = waitpid(r->pid, &status, WNOHANG);
        if (p == r->pid) {
                r->exited = true;
                r->wait_status = status;
                r->pid_source = sd_event_source_disable_unref(r->pid_source);
        }
}

static int on_output(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        struct exec_run *r = userdata;
        char chunk[4096];
        for (;;) {
                ssize_t n = read(fd, chunk, sizeof(chunk));
                if (n > 0) {
                        if (r->out.len + (size_t)n > OUTPUT_MAX)
                                r->too_big = true;
                        else
                                buf_append(&r->out, chunk, (size_t)n);
                        continue;
                }
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        return 0;
                break; /* EOF or error: the plugin is done writing */
        }
        explicit_bzero(chunk, sizeof(chunk));
        r->eof = true;
        r->out_source = sd_event_source_disable_unref(r->out_source);
        if (r->pid_fd < 0) {
                /* No pidfd (old kernel): stdout is closed, so the exit is imminent. */
                int status = 0;
                if (waitpid(r->pid, &status, 0) == r->pid) {
                        r->exited = true;
                        r->wait_status = status;
                }
        } else {
                reap(r);
        }
        maybe_finish(r);
        return 0;
}

static int on_exit_fd(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        struct exec_run *r = userdata;
        reap(r);
        maybe_finish(r);
        return 0;
}

static int on_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
        struct exec_run *r = userdata;
        kill(r->pid, SIGKILL);
        waitpid(r->pid, NULL, 0);
        r->exited = true;
        finish(r, -ETIMEDOUT, "did not finish in time and was killed");
        return 0;
}

static char **build_env(const struct kube_exec_config *cfg, char *exec_info)
{
        size_t n = 0, m = 0;
        while (environ && environ[n])
                n++;
        while (cfg->env && cfg->env[m])
                m++;
        char **env = xcalloc(n + m + 2, sizeof(char *));
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
                if (strncmp(environ[i], "KUBERNETES_EXEC_INFO=", 21) == 0)
                        continue;
                /* a variable the kubeconfig sets replaces ours */
                const char *eq = strchr(environ[i], '=');
                size_t len = eq ? (size_t)(eq - environ[i]) : strlen(environ[i]);
                bool overridden = false;
                for (size_t j = 0; j < m; j++)
                        if (strncmp(cfg->env[j], environ[i], len) == 0 && cfg->env[j][len] == '=')
                                overridden = true;
                if (!overridden)
                        env[k++] = environ[i];
        }
        for (size_t j = 0; j < m; j++)
                env[k++] = cfg->env[j];
        env[k++] = exec_info;
        env[k] = NULL;
        return env;
}

int exec_run_start(sd_event *event, const struct kube_exec_config *cfg, const char *exec_info,
                   usec_t timeout_usec, exec_run_done_fn *done, void *userdata,
                   struct exec_run **ret)
{
        if (!event || !cfg || !cfg->command || !done || !ret)
                return -EINVAL;
        int fds[2];
        if (pipe2(fds, O_CLOEXEC) < 0)
                return -errno;

        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
        posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);

        size_t nargs = 0;
        while (cfg->args && cfg->args[nargs])
                nargs++;
        char **argv = xcalloc(nargs + 2, sizeof(char *));
        argv[0] = cfg->command;
        for (size_t i = 0; i < nargs; i++)
                argv[i + 1] = cfg->args[i];
        char *info = xasprintf("KUBERNETES_EXEC_INFO=%s", exec_info ? exec_info : "");
        char **envp = build_env(cfg, info);

        pid_t pid;
        int r = strchr(cfg->command, '/') ? posix_spawn(&pid, cfg->command, &fa, NULL, argv, envp)
                                          : posix_spawnp(&pid, cfg->command, &fa, NULL, argv, envp);
        posix_spawn_file_actions_destroy(&fa);
        free(argv);
        free(envp);
        free(info);
        close(fds[1]);
        if (r != 0) {
                close(fds[0]);
                return -r;
        }

        struct exec_run *run = xcalloc(1, sizeof(*run));
        *run = (struct exec_run){
            .done = done,
            .userdata = userdata,
            .api_version = xstrdup(cfg->api_version),
            .command = xstrdup(cfg->command),
            .pid = pid,
            .out_fd = fds[0],
            .pid_fd = (int)syscall(SYS_pidfd_open, pid, 0),
        };
        fcntl(run->out_fd, F_SETFL, fcntl(run->out_fd, F_GETFL) | O_NONBLOCK);
        r = sd_event_add_io(event, &run->out_source, run->out_fd, EPOLLIN, on_output, run);
        if (r >= 0 && run->pid_fd >= 0)
                r = sd_event_add_io(event, &run->pid_source, run->pid_fd, EPOLLIN, on_exit_fd, run);
        if (r >= 0)
                r = sd_event_add_time_relative(event, &run->timer, CLOCK_MONOTONIC,
                                               timeout_usec ? timeout_usec : DEFAULT_TIMEOUT,
                                               100 * USEC_PER_MSEC, on_timeout, run);
        if (r < 0) {
                exec_run_cancel(run);
                return r;
        }
        *ret = run;
        return 0;
}
