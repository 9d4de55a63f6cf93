/* replay_main.c - runs every file of a corpus directory (or the files named
 * on the command line) through LLVMFuzzerTestOneInput, so ctest exercises
 * the fuzz corpus under gcc and the sanitizers where clang is absent. */
#include <dirent.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "replay: cannot open %s\n", path);
        return -1;
    }
    uint8_t *data = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            size_t ncap = cap ? cap * 2 : 4096;
            uint8_t *n = realloc(data, ncap);
            if (!n) {
                free(data);
                fclose(f);
                return -1;
            }
            data = n;
            cap = ncap;
        }
        size_t got = fread(data + len, 1, cap - len, f);
        if (got == 0) break;
        len += got;
    }
    fclose(f);
    /* Copy into an exact-size buffer so ASan catches reads past the end. */
    uint8_t *exact = malloc(len ? len : 1);
    if (!exact) {
        free(data);
        return -1;
    }
    if (len) memcpy(exact, data, len);
    free(data);
    LLVMFuzzerTestOneInput(exact, len);
    free(exact);
    return 0;
}

static int replay_path(const char *path, unsigned *count)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "replay: no such path %s\n", path);
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        (*count)++;
        return replay_file(path);
    }
    DIR *d = opendir(path);
    if (!d) return -1;
    struct dirent *e;
    int rv = 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char child[4096];
        int w = snprintf(child, sizeof child, "%s/%s", path, e->d_name);
        if (w < 0 || (size_t)w >= sizeof child) continue;
        if (replay_path(child, count) != 0) rv = -1;
    }
    closedir(d);
    return rv;
}

int main(int argc, char **argv)
{
    unsigned count = 0;
    int rv = 0;
    for (int i = 1; i < argc; i++)
        if (replay_path(argv[i], &count) != 0) rv = 1;
    printf("replayed %u inputs\n", count);
    return rv;
}
