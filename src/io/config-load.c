/* The configuration's files (config-load.h): the main file and canaries_dir. Plain blocking
 * reads: they happen at start, for --check-config and on SIGHUP, before anything is applied. */
#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>

#include "canaryd/config-load.h"
#include "canaryd/files.h"
#include "canaryd/util.h"

char *config_resolve_path(const char *config_path, const char *path)
{
        if (!path || path[0] == '/')
                return path ? xstrdup(path) : NULL;
        char *copy = xstrdup(config_path);
        char *p = xasprintf("%s/%s", dirname(copy), path);
        free(copy);
        return p;
}

static bool is_canaries_file(const char *name)
{
        size_t l = strlen(name);
        return name[0] != '.' && l > 5 && strcmp(name + l - 5, ".yaml") == 0;
}

static int name_cmp(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The canaries files of dir, sorted, as "dir/name" (caller frees each and the array). */
static int list_canaries_dir(const char *dir, char ***ret, size_t *ret_n)
{
        DIR *d = opendir(dir);
        if (!d)
                return -errno;
        char **names = NULL;
        size_t n = 0, allocated = 0;
        int r = 0;
        for (;;) {
                errno = 0;
                struct dirent *de = readdir(d);
                if (!de) {
                        r = -errno;
                        break;
                }
                if (!is_canaries_file(de->d_name))
                        continue;
                if (n == allocated) {
                        allocated = allocated ? allocated * 2 : 16;
                        names = xrealloc(names, allocated * sizeof(*names));
                }
                names[n++] = xstrdup(de->d_name);
        }
        closedir(d);
        if (r < 0) {
                for (size_t i = 0; i < n; i++)
                        free(names[i]);
                free(names);
                return r;
        }
        if (n > 1)
                qsort(names, n, sizeof(*names), name_cmp); /* strcmp: byte order */
        for (size_t i = 0; i < n; i++) {
                char *p = xasprintf("%s/%s", dir, names[i]);
                free(names[i]);
                names[i] = p;
        }
        *ret = names;
        *ret_n = n;
        return 0;
}

/* Reads canaries_dir and adds its canaries to c. Every problem is appended; returns -EINVAL if
 * there was any. */
static int load_canaries_dir(struct config *c, const char *path, struct config_problems *problems)
{
        char *dir = config_resolve_path(path, c->canaries_dir);
        char **paths = NULL;
        size_t n = 0;
        int r = list_canaries_dir(dir, &paths, &n);
        if (r < 0) {
                config_problems_add(problems, NULL, c->canaries_dir_line, c->canaries_dir_column,
                                    "cannot read canaries_dir %s: %s", dir, strerror(-r));
                free(dir);
                return -EINVAL;
        }
        free(dir);

        struct config_file *files = xcalloc(n + 1, sizeof(*files));
        char **texts = xcalloc(n + 1, sizeof(*texts));
        for (size_t i = 0; i < n; i++) {
                size_t len = 0;
                r = read_file(paths[i], CONFIG_FILE_MAX, &texts[i], &len);
                files[i] = (struct config_file){paths[i], texts[i], len, r < 0 ? r : 0};
        }
        r = config_parse_canaries(c, path, files, n, problems);
        for (size_t i = 0; i < n; i++) {
                free(texts[i]);
                free(paths[i]);
        }
        free(texts);
        free(paths);
        free(files);
        return r;
}

int config_load(const char *path, struct config **ret, struct config_problems *problems)
{
        char *text = NULL;
        size_t len = 0;
        int r = read_file(path, CONFIG_FILE_MAX, &text, &len);
        if (r == -EFBIG)
                config_problems_add(problems, NULL, 0, 0,
                                    "cannot read the configuration: larger than %u bytes",
                                    CONFIG_FILE_MAX);
        else if (r < 0)
                config_problems_add(problems, NULL, 0, 0, "cannot read the configuration: %s",
                                    strerror(-r));
        if (r < 0)
                return r;
        /* Even an invalid main file names its canaries_dir (when that key is valid): its files
         * are checked too, so that every problem is reported at once. */
        struct config *c = NULL;
        r = config_parse_partial(text, len, &c, problems);
        free(text);
        if (c->canaries_dir && load_canaries_dir(c, path, problems) < 0)
                r = -EINVAL;
        if (r < 0) {
                config_free(c);
                return r;
        }
        *ret = c;
        return 0;
}
