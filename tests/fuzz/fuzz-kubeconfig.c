/* Fuzz target: kubeconfig_parse on arbitrary bytes, with the current context and a named one;
 * with an exec user, the KUBERNETES_EXEC_INFO it produces must be JSON. The same bytes are also
 * read as an exec plugin's ExecCredential output (v1 and v1beta1), as a Lease and a LeaseList,
 * and as an APIGroup discovery document. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "canaryd/kube.h"
#include "canaryd/lease.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const char *text = (const char *)data;
        static const char *const contexts[] = {NULL, "dev"};
        for (size_t i = 0; i < 2; i++) {
                struct kube_credentials c = {0};
                char *err = NULL;
                int r = kubeconfig_parse(text, size, "/etc/kube", contexts[i], &c, &err);
                if (r == 0 && (!c.server || err))
                        abort();
                if (r < 0 && !err)
                        abort();
                if (r == 0 && c.exec) {
                        if (!c.exec->command || !c.exec->api_version || !c.exec->args ||
                            !c.exec->env)
                                abort();
                        char *info = kube_exec_info_json(c.exec, c.server, c.ca_pem, false);
                        cJSON *j = cJSON_Parse(info);
                        if (!j)
                                abort();
                        cJSON_Delete(j);
                        free(info);
                }
                free(err);
                kube_credentials_done(&c);
        }

        static const char *const versions[] = {"client.authentication.k8s.io/v1",
                                               "client.authentication.k8s.io/v1beta1"};
        for (size_t i = 0; i < 2; i++) {
                struct kube_exec_credential cred = {0};
                char *err = NULL;
                int r = kube_exec_credential_parse(text, size, versions[i], &cred, &err);
                if (r == 0 && (err || (!cred.token && !cred.client_cert_pem) ||
                               (!cred.client_cert_pem != !cred.client_key_pem) ||
                               (cred.token && strpbrk(cred.token, "\r\n"))))
                        abort();
                if (r < 0 && !err)
                        abort();
                free(err);
                kube_exec_credential_done(&cred);
        }

        struct lease_record l = {0};
        char *err = NULL;
        if (lease_parse(text, size, &l, &err) == 0) {
                if (!l.name || !l.holder)
                        abort();
                char *out = lease_render(NULL, "ns", l.name, &l);
                if (!out)
                        abort();
                free(out);
        }
        lease_record_done(&l);
        free(err);
        err = NULL;
        struct lease_record *recs = NULL;
        char **raws = NULL;
        size_t n = 0;
        if (lease_list_parse(text, size, &recs, &raws, &n, &err) == 0) {
                for (size_t i = 0; i < n; i++) {
                        lease_record_done(&recs[i]);
                        free(raws[i]);
                }
                free(recs);
                free(raws);
        }
        free(err);
        (void)kube_vs_version_from_discovery(text, size);
        return 0;
}
