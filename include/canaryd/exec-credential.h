/* Runs a kubeconfig exec credential plugin without blocking the loop (src/io/exec-credential.c):
 * posix_spawn with stdout on a pipe read by an sd-event io source, the exit seen through a pidfd,
 * a deadline after which the plugin is killed. WIRE.md §2.7. */
#pragma once

#include "canaryd/io-layer.h"

#include <systemd/sd-event.h>

#include "canaryd/kube.h"

struct exec_run;

/* Called once from the loop. error 0: *cred holds the parsed credential, and the callee may
 * move its members out (what it leaves is freed afterwards). Else a negative errno (-ENOENT
 * command not found, -ETIMEDOUT, -EBADMSG bad output, -EPROTO non-zero exit) and errmsg
 * (borrowed; names the command and the exit status, never the plugin's output). The run is
 * freed after the callback returns. */
typedef void exec_run_done_fn(int error, struct kube_exec_credential *cred, const char *errmsg,
                              void *userdata);

/* Starts cfg->command with cfg->args, our environment plus cfg->env and KUBERNETES_EXEC_INFO =
 * exec_info, stdin on /dev/null, stderr inherited (the journal, as kubectl shows it to the
 * user). timeout_usec 0 = 60 s. Returns 0 and the run in *ret (borrowed, valid until the
 * callback or exec_run_cancel), or a negative errno (done never runs). */
int exec_run_start(sd_event *event, const struct kube_exec_config *cfg, const char *exec_info,
                   usec_t timeout_usec, exec_run_done_fn *done, void *userdata,
                   struct exec_run **ret);
/* Kills the plugin and frees the run without calling done. NULL-safe; returns NULL. */
struct exec_run *exec_run_cancel(struct exec_run *r);
