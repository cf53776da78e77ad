/* test_pipeline_config.c — the config.yaml reader (src/io/pipeline_config.c) on the two real
 * pipeline files (tests/data/pipelines/), compared with what pyannote.audio 4.0.7 makes of them
 * (fixture from tools/gen_pipeline_config_fixtures.py: PyYAML SafeLoader + expand_subfolders),
 * then broken variants: each must be refused with its key path, or with line and column for
 * malformed YAML. Numbers are compared exactly: both sides are the correctly rounded double
 * of the same decimal text (strtod, Python's float). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "io/pipeline_config.h"
#include "wx_test.h"

static char *read_data(const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "tests/data/pipelines/%s.yaml", name);
    char *text = NULL;
    size_t size;
    wx_err err;
    if (wx_read_file(path, &text, &size, &err) != WX_OK) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    return text;
}

static json_t *pyannote_view(const wx_fixture *fx, const char *name)
{
    const wx_fixture_array *a = wx_fixture_get(fx, name);
    if (!a || a->dtype != 2) return NULL;
    return json_loads(a->data, 0, NULL);
}

/* Our reference against pyannote's: a "$model/x" became {"checkpoint": "PIPELINE",
 * "subfolder": "x", "revision": null}; a repo id stays a string. */
static void check_ref(const wx_pipeline_ref *ref, json_t *want, const char *what)
{
    if (!want) { CHECK_MSG(!ref->present, "%s present", what); return; }
    CHECK_MSG(ref->present, "%s absent", what);
    if (json_is_string(want)) {
        CHECK_MSG(!ref->in_pipeline && strcmp(ref->path, json_string_value(want)) == 0, "%s: %s", what, ref->path);
    } else {
        CHECK_MSG(ref->in_pipeline && strcmp(ref->path, json_string_value(json_object_get(want, "subfolder"))) == 0,
                  "%s: %s", what, ref->path);
        CHECK(json_is_null(json_object_get(want, "revision")) && ref->revision[0] == '\0');
    }
}

static double number(json_t *o, const char *key) { return json_number_value(json_object_get(o, key)); }

static void check_against_pyannote(const char *name, const wx_pipeline_config *c, json_t *want)
{
    json_t *pp = json_object_get(json_object_get(want, "pipeline"), "params");
    json_t *cl = json_object_get(json_object_get(want, "params"), "clustering");
    json_t *seg = json_object_get(json_object_get(want, "params"), "segmentation");
    CHECK_MSG(pp && cl && seg, "%s: fixture shape", name);
    if (!pp || !cl || !seg) return;
    CHECK(c->kind == WX_PIPELINE_SPEAKER_DIARIZATION);
    CHECK(strcmp(c->pyannote_version,
                 json_string_value(json_object_get(json_object_get(want, "dependencies"), "pyannote.audio"))) == 0);
    check_ref(&c->segmentation, json_object_get(pp, "segmentation"), "segmentation");
    check_ref(&c->embedding, json_object_get(pp, "embedding"), "embedding");
    check_ref(&c->plda, json_object_get(pp, "plda"), "plda");
    CHECK(c->segmentation_batch_size == json_integer_value(json_object_get(pp, "segmentation_batch_size")));
    CHECK(c->embedding_batch_size == json_integer_value(json_object_get(pp, "embedding_batch_size")));
    CHECK(c->embedding_exclude_overlap == json_is_true(json_object_get(pp, "embedding_exclude_overlap")));
    CHECK(strcmp(wx_pipeline_clustering_name(c->clustering), json_string_value(json_object_get(pp, "clustering"))) == 0);
    CHECK(c->clustering_threshold == number(cl, "threshold"));                 /* exact */
    CHECK(c->min_duration_off == number(seg, "min_duration_off"));             /* exact */
    if (c->clustering == WX_PIPELINE_VBX) {
        CHECK(c->vbx_fa == number(cl, "Fa") && c->vbx_fb == number(cl, "Fb")); /* exact */
        CHECK(c->min_cluster_size == 0 && c->linkage_method[0] == '\0');
    } else {
        CHECK(c->min_cluster_size == json_integer_value(json_object_get(cl, "min_cluster_size")));
        CHECK(strcmp(c->linkage_method, json_string_value(json_object_get(cl, "method"))) == 0);
        CHECK(c->vbx_fa == 0.0 && c->vbx_fb == 0.0);
    }
}

static void test_real_configs(void)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/pipeline_config.fix", wx_test_env("WX_FIXTURE_DIR", "tests/fixtures"));
    wx_fixture fx;
    CHECK_MSG(wx_fixture_load(path, &fx) == 0, "cannot read %s", path);
    const char *names[] = {"community-1", "speaker-diarization-3.1"};
    for (int i = 0; i < 2; i++) {
        char file[256];
        snprintf(file, sizeof file, "tests/data/pipelines/%s.yaml", names[i]);
        wx_pipeline_config c;
        wx_err err = {{0}};
        wx_status st = wx_pipeline_config_load(file, &c, &err);
        CHECK_MSG(st == WX_OK, "%s", err.msg);
        json_t *want = pyannote_view(&fx, names[i]);
        CHECK_MSG(want != NULL, "fixture entry %s", names[i]);
        if (st == WX_OK && want) check_against_pyannote(names[i], &c, want);
        json_decref(want);
    }
    wx_fixture_free(&fx);

    /* The values themselves, spelled out (the fixture could be regenerated wrong). */
    wx_pipeline_config c;
    wx_err err;
    char *text = read_data("community-1");
    CHECK(wx_pipeline_config_parse(text, strlen(text), "c1", &c, &err) == WX_OK);
    CHECK(c.clustering == WX_PIPELINE_VBX && c.clustering_threshold == 0.6 && c.vbx_fa == 0.07 && c.vbx_fb == 0.8);
    CHECK(c.plda.present && c.plda.in_pipeline && strcmp(c.plda.path, "plda") == 0);
    CHECK(c.embedding_exclude_overlap == 1 && c.segmentation_batch_size == 32 && strcmp(c.pyannote_version, "4.0.0") == 0);
    free(text);
    text = read_data("speaker-diarization-3.1");
    CHECK(wx_pipeline_config_parse(text, strlen(text), "3.1", &c, &err) == WX_OK);
    CHECK(c.clustering == WX_PIPELINE_AGGLOMERATIVE && c.clustering_threshold == 0.7045654963945799);
    CHECK(c.min_cluster_size == 12 && strcmp(c.linkage_method, "centroid") == 0 && !c.plda.present);
    CHECK(!c.segmentation.in_pipeline && strcmp(c.segmentation.path, "pyannote/segmentation-3.0") == 0);
    CHECK(strcmp(c.pyannote_version, "3.1.0") == 0);
    free(text);
}

/* base with the first occurrence of from replaced by to. */
static char *variant(const char *base, const char *from, const char *to)
{
    const char *at = strstr(base, from);
    if (!at) { fprintf(stderr, "variant: \"%s\" not in the base\n", from); exit(1); }
    size_t head = (size_t)(at - base), n = strlen(base) - strlen(from) + strlen(to);
    char *out = malloc(n + 1);
    memcpy(out, base, head);
    strcpy(out + head, to);
    strcat(out, at + strlen(from));
    return out;
}

static void expect_ok(const char *text, wx_pipeline_config *c)
{
    wx_err err = {{0}};
    wx_status st = wx_pipeline_config_parse(text, strlen(text), "t.yaml", c, &err);
    CHECK_MSG(st == WX_OK, "%s", err.msg);
}

/* Refused with every one of the given pieces in the message (NULL-terminated). */
static void expect_error_(const char *text, const char *const *pieces)
{
    wx_pipeline_config c;
    wx_err err = {{0}};
    wx_status st = wx_pipeline_config_parse(text, strlen(text), "t.yaml", &c, &err);
    CHECK_MSG(st == WX_ERR_FORMAT, "accepted:\n%s", text);
    CHECK_MSG(strncmp(err.msg, "t.yaml: ", 8) == 0, "no label: %s", err.msg);
    if (getenv("WX_TEST_VERBOSE")) printf("%s\n", err.msg);
    for (; *pieces; pieces++) CHECK_MSG(strstr(err.msg, *pieces) != NULL, "\"%s\" not in \"%s\"", *pieces, err.msg);
}
#define expect_error(text, ...) expect_error_(text, (const char *const[]){__VA_ARGS__, NULL})

static void test_variants(void)
{
    char *vbx = read_data("community-1"), *ahc = read_data("speaker-diarization-3.1");
    wx_pipeline_config c;
    char *t;
#define TRY(expr, ...) do { t = (expr); expect_error(t, __VA_ARGS__); free(t); } while (0)
    /* Keys pyannote would act on but we do not read. */
    TRY(variant(vbx, "params:\n  clustering", "preprocessors:\n  audio: /x/{uri}.wav\nparams:\n  clustering"),
        "preprocessors", "unknown key", "line 14, column 1");
    TRY(variant(vbx, "    plda:", "    segmentation_step: 0.1\n    plda:"), "pipeline.params.segmentation_step", "unknown key");
    TRY(variant(ahc, "  segmentation:\n", "  segmentation:\n    threshold: 0.5\n"), "params.segmentation.threshold");
    TRY(variant(vbx, "    Fb: 0.8", "    Fb: 0.8\n    method: centroid"), "params.clustering.method", "VBxClustering");
    TRY(variant(ahc, "    method: centroid", "    Fa: 0.07\n    method: centroid"), "params.clustering.Fa",
        "AgglomerativeClustering");
    /* Missing keys. */
    TRY(variant(vbx, "    Fa: 0.07\n", ""), "params.clustering", "Fa is missing");
    TRY(variant(vbx, "    plda: $model/plda\n", ""), "pipeline.params", "needs the key plda");
    TRY(variant(ahc, "    segmentation: pyannote/segmentation-3.0\n", ""), "segmentation is missing");
    TRY(variant(ahc, "  segmentation:\n    min_duration_off: 0.0\n", ""), "params", "segmentation is missing");
    TRY(variant(ahc, "    embedding_batch_size: 32\n", "    plda: pyannote/plda\n"), "plda is for VBxClustering");
    /* Wrong types and values. */
    TRY(variant(ahc, "embedding_batch_size: 32", "embedding_batch_size: \"32\""),
        "pipeline.params.embedding_batch_size", "expected an integer", "line 8");
    TRY(variant(ahc, "embedding_batch_size: 32", "embedding_batch_size: 0"), "outside");
    TRY(variant(ahc, "min_cluster_size: 12", "min_cluster_size: 12.0"), "params.clustering.min_cluster_size");
    TRY(variant(vbx, "threshold: 0.6", "threshold: 6e-1"), "params.clustering.threshold", "expected a number");
    TRY(variant(vbx, "threshold: 0.6", "threshold: '0.6'"), "expected a number", "the string");
    TRY(variant(vbx, "threshold: 0.6", "threshold: .nan"), "expected a number");
    TRY(variant(vbx, "Fb: 0.8", "Fb: -0.8"), "params.clustering.Fb", "outside");
    TRY(variant(vbx, "exclude_overlap: true", "exclude_overlap: maybe"), "expected true or false");
    TRY(variant(vbx, "exclude_overlap: true", "exclude_overlap: [true]"), "a list");
    TRY(variant(vbx, "clustering: VBxClustering", "clustering: KMeansClustering"), "KMeansClustering");
    TRY(variant(ahc, "method: centroid", "method: ward2"), "ward2");
    TRY(variant(ahc, "name: pyannote.audio.pipelines.SpeakerDiarization", "name: pyannote.audio.pipelines.VoiceActivityDetection"),
        "pipeline.name", "only pyannote.audio.pipelines.SpeakerDiarization");
    TRY(variant(vbx, "name: pyannote.audio.pipelines.SpeakerDiarization", "name: !!python/name:os.system"),
        "pipeline.name", "tagged");
    TRY(variant(vbx, "$model/plda", "$model/../plda"), "pipeline.params.plda", "neither");
    TRY(variant(ahc, "pyannote/segmentation-3.0", "/abs/path.bin"), "pipeline.params.segmentation");
    TRY(variant(ahc, "pyannote/segmentation-3.0", "pyannote/segmentation-3.0@"), "revision");
    TRY(variant(ahc, "version: 3.1.0\n", "version: 3.1.0\ndependencies:\n  pyannote.audio: 3.1.0\n"), "twice");
    TRY(variant(ahc, "version: 3.1.0\n", "version: 3.1.0\nversion: 3.1.1\n"), "version", "appears twice");
    TRY(variant(vbx, "pyannote.audio: 4.0.0", "torch: 2.8.0"), "dependencies.torch", "unknown key");
    TRY(variant(vbx, "  pyannote.audio: 4.0.0", "  pyannote.audio: latest"), "not a version");
    /* Not a config at all, or not YAML. */
    expect_error("", "empty");
    expect_error("- a\n- b\n", "expected a mapping", "line 1, column 1");
    expect_error("pipeline:\n  name: [unclosed\nparams: {}\n", "malformed YAML", "line", "column");
    expect_error("pipeline:\n\tname: x\n", "malformed YAML", "line 2");
    expect_error("a: 1\n---\nb: 2\n", "unknown key");
    TRY(variant(ahc, "params:", "---\nparams:"), "malformed YAML", "line 6, column 1");
    t = malloc(strlen(ahc) + 16);
    strcpy(t, ahc);
    strcat(t, "---\nx: 1\n");
    expect_error(t, "second YAML document");
    free(t);
    /* Accepted spellings PyYAML resolves the same way. */
    t = variant(vbx, "exclude_overlap: true", "exclude_overlap: yes");
    expect_ok(t, &c);
    CHECK(c.embedding_exclude_overlap == 1);
    free(t);
    t = variant(vbx, "segmentation_batch_size: 32", "segmentation_batch_size: 1_6");
    expect_ok(t, &c);
    CHECK(c.segmentation_batch_size == 16);
    free(t);
    t = variant(vbx, "Fb: 0.8", "Fb: 1");   /* an int where a float goes */
    expect_ok(t, &c);
    CHECK(c.vbx_fb == 1.0);
    free(t);
    t = variant(vbx, "$model/embedding", "$model/embedding@v2");
    expect_ok(t, &c);
    CHECK(strcmp(c.embedding.path, "embedding") == 0 && strcmp(c.embedding.revision, "v2") == 0);
    free(t);
    t = variant(vbx, "dependencies:\n  pyannote.audio: 4.0.0\n", "");
    expect_ok(t, &c);
    CHECK(c.pyannote_version[0] == '\0');
    free(t);
    t = variant(ahc, "    segmentation_batch_size: 32\n", "");
    expect_ok(t, &c);
    CHECK(c.segmentation_batch_size == 1);   /* SpeakerDiarization's default */
    free(t);
    expect_ok("{pipeline: {name: pyannote.audio.pipelines.SpeakerDiarization, params: {clustering: "
              "VBxClustering, segmentation: $model/s, embedding: $model/e, plda: $model/p}}, params: "
              "{clustering: {threshold: 0.5, Fa: 0.1, Fb: 1.0}, segmentation: {min_duration_off: 0.25}}}", &c);
    CHECK(c.min_duration_off == 0.25 && strcmp(c.plda.path, "p") == 0);
#undef TRY
    free(vbx);
    free(ahc);
}

static void test_load_errors(void)
{
    wx_pipeline_config c;
    wx_err err = {{0}};
    CHECK(wx_pipeline_config_load("tests/data/pipelines/no-such.yaml", &c, &err) == WX_ERR_IO);
    CHECK(strstr(err.msg, "no-such.yaml") != NULL);
}

int main(void)
{
    test_real_configs();
    test_variants();
    test_load_errors();
    return wx_test_finish("test_pipeline_config");
}
