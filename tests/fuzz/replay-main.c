/* A main() for the fuzz targets outside libFuzzer: feeds every file named on the command line,
 * and every regular file in every directory named (sorted, dot files skipped), to
 * LLVMFuzzerTestOneInput once, calling LLVMFuzzerInitialize first when the target has one.
 * The build links each tests/fuzz/fuzz-<t>.c with this into replay-<t>, and ctest runs it on
 * tests/fuzz/corpus/<t>/ (label fuzz-regress) under ASan + UBSan, so every seed and every past
 * crasher is replayed by the normal test suite. A target aborts on a violated invariant, so a
 * regression fails the test; the last "replay:" line names the input that did it.
 *
 * Arguments starting with '-' (libFuzzer flags such as -runs=1) are ignored. Exits 1 when an
 * argument cannot be read or no input was found at all (a missing corpus is a mistake). */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "canaryd/files.h"
#include "canaryd/util.h"

#define REPLAY_MAX_BYTES (1024 * 1024) /* libFuzzer's default -max_len is far smaller */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv);

/* Runs one file. The input sits in a buffer of exactly its size, so that ASan reports any read
 * past the end as the fuzzer would. Returns 0, or -errno when the file cannot be read. */
static int replay_file(const char *path)
{
        char *text = NULL;
        size_t len = 0;
        int r = read_file(path, REPLAY_MAX_BYTES, &text, &len);
        if (r < 0) {
                fprintf(stderr, "replay: %s: %s\n", path, strerror(-r));
                return r;
        }
        uint8_t *data = malloc(len ? len : 1);
        if (!data)
                abort();
        if (len)
                memcpy(data, text, len);
        free(text);

        fprintf(stderr, "replay: %s (%zu bytes)\n", path, len);
        LLVMFuzzerTestOneInput(data, len);
        free(data);
        return 0;
}

static int skip_dot(const struct dirent *d)
{
        return d->d_name[0] != '.';
}

/* Runs every regular file in dir, in name order. Returns how many, or -errno. */
static int replay_dir(const char *dir)
{
        struct dirent **names;
        int n = scandir(dir, &names, skip_dot, alphasort);
        if (n < 0) {
                fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
                return -errno;
        }
        int count = 0, r = 0;
        for (int i = 0; i < n; i++) {
                char *path = xasprintf("%s/%s", dir, names[i]->d_name);
                struct stat st;
                if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
                        if (r >= 0)
                                r = replay_file(path);
                        count++;
                }
                free(path);
                free(names[i]);
        }
        free(names);
        return r < 0 ? r : count;
}

int main(int argc, char **argv)
{
        int total = 0;

        if (LLVMFuzzerInitialize)
                LLVMFuzzerInitialize(&argc, &argv);

        for (int i = 1; i < argc; i++) {
                const char *arg = argv[i];
                struct stat st;
                int r;

                if (arg[0] == '-')
                        continue;
                if (stat(arg, &st) < 0) {
                        fprintf(stderr, "replay: %s: %s\n", arg, strerror(errno));
                        return EXIT_FAILURE;
                }
                r = S_ISDIR(st.st_mode) ? replay_dir(arg) : replay_file(arg) < 0 ? -EIO : 1;
                if (r < 0)
                        return EXIT_FAILURE;
                total += r;
        }
        if (total == 0) {
                fprintf(stderr, "replay: no inputs (usage: %s FILE|DIR...)\n", argv[0]);
                return EXIT_FAILURE;
        }
        fprintf(stderr, "replay: %d inputs, all passed\n", total);
        return EXIT_SUCCESS;
}
