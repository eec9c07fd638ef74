/* Fuzz target: kubeconfig_parse on arbitrary bytes, with the current context and a named one. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "canaryd/kube.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static const char *const contexts[] = {NULL, "dev"};
        for (size_t i = 0; i < 2; i++) {
                struct kube_credentials c = {0};
                char *err = NULL;
                int r =
                    kubeconfig_parse((const char *)data, size, "/etc/kube", contexts[i], &c, &err);
                if (r == 0 && (!c.server || err))
                        abort();
                if (r < 0 && !err)
                        abort();
                free(err);
                kube_credentials_done(&c);
        }
        return 0;
}
