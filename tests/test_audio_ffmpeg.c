/* test_audio_ffmpeg.c — bit-identity of our decoder with WhisperX's decoding: for every
 * recording of ../shared/data and for variants the ffmpeg program makes from them (M4A/AAC,
 * MP4 with a video track, MOV, WebM/Opus, Ogg/Opus, Ogg/Vorbis, ADTS AAC, 8 kHz µ-law WAV,
 * 48 kHz stereo WAV, 5.1 WAV, 22.05 kHz MP3, and rate/layout changes mid-stream in ADTS and
 * MP3), the samples of wx_audio_load_file and
 * wx_audio_load_memory, × 32768, must equal byte for byte what
 *     ffmpeg -nostdin -threads 0 -i FILE -f s16le -ac 1 -acodec pcm_s16le -ar 16000 -
 * writes (whisperx.load_audio's command) with the ffmpeg program of the same FFmpeg version
 * as the libraries we link. Skipped (77) when no ffmpeg program is on PATH; scripts/
 * install_deps.sh installs it, so CI always runs it. */
#include "wx_test.h"

#include "io/audio.h"

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libswresample/swresample.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#define SKIP 77

static char tmp_dir[64];

typedef struct variant {
    const char *name;    /* file made in tmp_dir */
    const char *source;  /* recording of the data folder */
    const char *args;    /* ffmpeg output options */
} variant;

static const variant VARIANTS[] = {
    {"jfk.m4a", "jfk.flac", "-c:a aac -b:a 64k"},
    {"jfk_video.mp4", "jfk.flac",
     "-f lavfi -i testsrc=size=64x48:rate=10 -shortest -map 1:v -map 0:a -c:v mpeg4 -c:a aac"},
    {"jfk.mov", "jfk.flac",
     "-f lavfi -i testsrc=size=64x48:rate=10 -shortest -map 1:v -map 0:a -c:v mpeg4 -c:a aac"},
    {"jfk.webm", "jfk.flac", "-c:a libopus -b:a 32k"},
    {"jfk.opus", "jfk.flac", "-c:a libopus -b:a 24k"},
    {"jfk.ogg", "jfk.flac", "-c:a libvorbis -q:a 3"},
    {"jfk.aac", "jfk.flac", "-c:a aac -b:a 64k -f adts"},
    {"jfk_ulaw8k.wav", "jfk.flac", "-ar 8000 -ac 1 -c:a pcm_mulaw"},
    {"jfk_48k_stereo.wav", "jfk.flac", "-ar 48000 -ac 2 -c:a pcm_s16le"},
    {"jfk_5.1.wav", "jfk.flac", "-af 'pan=5.1|c0=c0|c1=c1|c2=c0|c3=c1|c4=c0|c5=c1' -c:a pcm_s24le"},
    {"jfk_22k.mp3", "jfk.flac", "-ar 22050 -c:a libmp3lame -b:a 64k"},
    {"multilingual.m4a", "multilingual.mp3", "-c:a aac -b:a 64k"},
    {"hotwords.webm", "hotwords.mp3", "-c:a libopus -b:a 32k"},
    /* Parameters changing mid-stream (44.1 kHz stereo, then 22.05 kHz mono): concatenated
     * ADTS; and two MP3s of different rates and layouts, back to back. */
    {"rate_change.aac", "jfk.flac", "!-t 3 -c:a aac -f adts|-ss 3 -t 3 -ar 22050 -ac 1 -c:a aac -f adts"},
    {"rate_change.mp3", "jfk.mp3", "!-c:a copy -f mp3|-i '%s/hotwords.mp3' -map 1:a -c:a copy -f mp3"},
};

static const char *RECORDINGS[] = {"jfk.wav", "jfk.mp3", "jfk.flac", "sample.wav", "dev00.wav",
                                   "tst00.wav", "empty.wav", "stereo_diarization.wav",
                                   "multilingual.mp3", "hotwords.mp3"};

static int have_ffmpeg(void)
{
    return system("ffmpeg -version >/dev/null 2>&1") == 0;
}

/* "libavcodec     59. 37.100 / 59. 37.100": the ffmpeg program's runtime versions of the
 * three libraries that decide the samples must be ours. */
static int versions_match(void)
{
    FILE *p = popen("ffmpeg -version 2>/dev/null", "r");
    if (!p) return 0;
    char line[256];
    int matched = 0;
    struct { const char *name; unsigned version; } libs[] = {
        {"libavcodec", avcodec_version()}, {"libavformat", avformat_version()},
        {"libswresample", swresample_version()}};
    while (fgets(line, sizeof line, p)) {
        for (int i = 0; i < 3; i++) {
            unsigned a, b, c, ra, rb, rc;
            size_t n = strlen(libs[i].name);
            if (strncmp(line, libs[i].name, n) != 0 || line[n] != ' ') continue;
            if (sscanf(line + n, " %u. %u.%u / %u. %u.%u", &a, &b, &c, &ra, &rb, &rc) != 6) continue;
            unsigned ours = libs[i].version, theirs = AV_VERSION_INT(ra, rb, rc);
            printf("%-14s ffmpeg program %u.%u.%u, linked %u.%u.%u\n", libs[i].name, ra, rb, rc,
                   AV_VERSION_MAJOR(ours), AV_VERSION_MINOR(ours), AV_VERSION_MICRO(ours));
            matched += ours == theirs;
        }
    }
    pclose(p);
    return matched == 3;
}

/* "!A|B": the file is the bytes of two outputs (options A, then B) concatenated; a "%s" in B
 * is the data folder. */
static int make_concatenation(const char *data_dir, const variant *v)
{
    char cmd[4096], second[512];
    const char *bar = strchr(v->args, '|');
    snprintf(second, sizeof second, bar + 1, data_dir);
    snprintf(cmd, sizeof cmd, "{ ffmpeg -nostdin -v error -i '%s/%s' %.*s - && "
             "ffmpeg -nostdin -v error -i '%s/%s' %s -; } > '%s/%s'", data_dir, v->source,
             (int)(bar - v->args - 1), v->args + 1, data_dir, v->source, second, tmp_dir, v->name);
    int rc = system(cmd);
    CHECK_MSG(rc == 0, "could not make %s: %s", v->name, cmd);
    return rc == 0;
}

static int make_variant(const char *data_dir, const variant *v)
{
    char cmd[2048];
    if (v->args[0] == '!') return make_concatenation(data_dir, v);
    const char *lavfi = strstr(v->args, "-f lavfi");
    /* Options before the second input belong to it; those after it to the output. */
    if (lavfi) {
        const char *rest = strstr(v->args, " -shortest");
        snprintf(cmd, sizeof cmd, "ffmpeg -nostdin -v error -y -i '%s/%s' %.*s%s '%s/%s'",
                 data_dir, v->source, (int)(rest - v->args), v->args, rest, tmp_dir, v->name);
    } else {
        snprintf(cmd, sizeof cmd, "ffmpeg -nostdin -v error -y -i '%s/%s' %s '%s/%s'", data_dir,
                 v->source, v->args, tmp_dir, v->name);
    }
    int rc = system(cmd);
    CHECK_MSG(rc == 0, "could not make %s: %s", v->name, cmd);
    return rc == 0;
}

/* whisperx.load_audio's command, into tmp_dir/ref.s16. */
static int reference(const char *path, char **pcm, size_t *bytes)
{
    char cmd[2048], out[128];
    wx_err err;
    snprintf(out, sizeof out, "%s/ref.s16", tmp_dir);
    snprintf(cmd, sizeof cmd, "ffmpeg -nostdin -threads 0 -v error -i '%s' -f s16le -ac 1 "
             "-acodec pcm_s16le -ar 16000 - > '%s'", path, out);
    int rc = system(cmd);
    CHECK_MSG(rc == 0, "%s: the ffmpeg command failed", path);
    if (rc != 0) return 0;
    return wx_read_file(out, pcm, bytes, &err) == WX_OK;
}

/* Exact comparison; returns 1 when identical, else prints where and by how much. */
static int same_samples(const char *what, const wx_audio *a, const int16_t *ref, size_t n)
{
    size_t first = (size_t)-1, differing = 0;
    double worst = 0.0;
    size_t common = a->n_samples < n ? a->n_samples : n;
    for (size_t i = 0; i < common; i++) {
        double d = fabs((double)a->samples[i] * 32768.0 - ref[i]);
        if (d != 0.0) {
            if (first == (size_t)-1) first = i;
            differing++;
            worst = fmax(worst, d);
        }
    }
    if (a->n_samples == n && differing == 0) return 1;
    fprintf(stderr, "%s: %zu samples (ffmpeg %zu); %zu differ, first at %zu, max %.1f LSB\n",
            what, a->n_samples, n, differing, first, worst);
    return 0;
}

static void check_file(const char *path, const char *name)
{
    char *pcm = NULL, *bytes = NULL;
    size_t pcm_bytes = 0, size = 0;
    wx_audio f = {0}, m = {0};
    wx_err err;
    if (!reference(path, &pcm, &pcm_bytes)) goto cleanup;
    size_t n = pcm_bytes / 2;
    wx_status st = wx_audio_load_file(path, 0, &f, &err);
    CHECK_MSG(st == WX_OK, "%s: %s", name, err.msg);
    CHECK(wx_read_file(path, &bytes, &size, &err) == WX_OK);
    wx_status sm = wx_audio_load_memory(bytes, size, 0, &m, &err);
    CHECK_MSG(sm == WX_OK, "%s (memory): %s", name, err.msg);
    if (st != WX_OK || sm != WX_OK) goto cleanup;
    int file_ok = same_samples(name, &f, (const int16_t *)pcm, n);
    int memory_ok = same_samples(name, &m, (const int16_t *)pcm, n);
    printf("%-24s %-34s %8zu samples: %s\n", name, f.format, n,
           file_ok && memory_ok ? "bit-identical" : "DIFFERENT");
    CHECK_MSG(file_ok, "%s: file decode differs from the ffmpeg command", name);
    CHECK_MSG(memory_ok, "%s: memory decode differs from the ffmpeg command", name);
cleanup:
    wx_audio_free(&f);
    wx_audio_free(&m);
    free(pcm);
    free(bytes);
}

static void remove_tmp(void)
{
    char path[256];
    for (size_t i = 0; i < sizeof VARIANTS / sizeof *VARIANTS; i++) {
        snprintf(path, sizeof path, "%s/%s", tmp_dir, VARIANTS[i].name);
        unlink(path);
    }
    snprintf(path, sizeof path, "%s/ref.s16", tmp_dir);
    unlink(path);
    rmdir(tmp_dir);
}

int main(void)
{
    const char *data_dir = wx_test_env("WX_DATA_DIR", "../shared/data");
    if (!have_ffmpeg()) {
        printf("test_audio_ffmpeg: skipped: no ffmpeg program on PATH (scripts/install_deps.sh "
               "installs Debian's ffmpeg, the reference this test compares with)\n");
        return SKIP;
    }
    CHECK_MSG(versions_match(), "the ffmpeg program is not the FFmpeg version this build links: "
              "bit-identity is defined against the same version (install Debian's ffmpeg)");
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/wx_test_audio_ffmpeg.XXXXXX");
    if (!mkdtemp(tmp_dir)) {
        perror("mkdtemp");
        return 1;
    }
    double t = wx_now();
    char path[1024];
    for (size_t i = 0; i < sizeof RECORDINGS / sizeof *RECORDINGS; i++) {
        snprintf(path, sizeof path, "%s/%s", data_dir, RECORDINGS[i]);
        check_file(path, RECORDINGS[i]);
    }
    for (size_t i = 0; i < sizeof VARIANTS / sizeof *VARIANTS; i++) {
        if (!make_variant(data_dir, &VARIANTS[i])) continue;
        snprintf(path, sizeof path, "%s/%s", tmp_dir, VARIANTS[i].name);
        check_file(path, VARIANTS[i].name);
    }
    remove_tmp();
    printf("test_audio_ffmpeg: %.2f s\n", wx_now() - t);
    return wx_test_finish("test_audio_ffmpeg");
}
