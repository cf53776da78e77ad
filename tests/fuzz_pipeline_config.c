/* fuzz_pipeline_config.c — fuzz target for the pipeline config.yaml reader
 * (wx_pipeline_config_parse): any bytes must be refused with a message that starts with the
 * label, or give a config whose strings are terminated and whose numbers are in range. Built
 * with tests/fuzz_driver.c (smoke run over the real configs in tests/data/pipelines/) or with
 * clang -fsanitize=fuzzer. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/pipeline_config.h"

static void check_ref(const wx_pipeline_ref *ref)
{
    if (memchr(ref->path, '\0', sizeof ref->path) == NULL) abort();
    if (memchr(ref->revision, '\0', sizeof ref->revision) == NULL) abort();
    if (ref->present && (ref->path[0] == '\0' || strstr(ref->path, ".."))) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    wx_pipeline_config c;
    wx_err err = {{0}};
    if (wx_pipeline_config_parse((const char *)data, size, "fuzz", &c, &err) != WX_OK) {
        if (strncmp(err.msg, "fuzz: ", 6) != 0) abort();
        return 0;
    }
    check_ref(&c.segmentation);
    check_ref(&c.embedding);
    check_ref(&c.plda);
    if (!c.segmentation.present || !c.embedding.present) abort();
    if ((c.clustering == WX_PIPELINE_VBX) != (c.plda.present != 0)) abort();
    if (c.segmentation_batch_size < 1 || c.embedding_batch_size < 1) abort();
    if (!isfinite(c.clustering_threshold) || !isfinite(c.min_duration_off) || c.min_duration_off < 0) abort();
    if (c.clustering == WX_PIPELINE_AGGLOMERATIVE && (c.min_cluster_size < 1 || !c.linkage_method[0])) abort();
    if (c.clustering == WX_PIPELINE_VBX && !(c.vbx_fa > 0 && c.vbx_fb > 0)) abort();
    return 0;
}

const char *wx_fuzz_seed_file(void)
{
    return "tests/data/pipelines";
}
