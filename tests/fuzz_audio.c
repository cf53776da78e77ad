/* fuzz_audio.c — fuzz target for audio decoding from memory through FFmpeg
 * (wx_audio_load_memory): any bytes must either be refused with a message or decode to
 * finite 16 kHz samples within the limit. Built with tests/fuzz_driver.c (smoke run over the
 * corpus tests/fixtures/audio_seeds/: 0.3 s of jfk as WAV, µ-law WAV, MP3, M4A, MP4 with a
 * video track, WebM/Opus, OGG/Vorbis and ADTS AAC, made by tools/gen_audio_fixtures.sh) or
 * with clang -fsanitize=fuzzer. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "io/audio.h"

/* Mutated headers may declare long recordings; 20 s keeps each run short. */
#define FUZZ_MAX_SECONDS 20.0

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    wx_audio audio;
    wx_err err = {{0}};
    wx_status st = wx_audio_load_memory(data, size, FUZZ_MAX_SECONDS, &audio, &err);
    if (st != WX_OK) {
        if (err.msg[0] == '\0' || audio.samples) abort();
        return 0;
    }
    if (audio.n_samples == 0 || audio.source_rate <= 0 || audio.source_channels <= 0) abort();
    if ((double)audio.n_samples > FUZZ_MAX_SECONDS * WX_SAMPLE_RATE) abort();
    for (size_t i = 0; i < audio.n_samples; i++)
        if (!isfinite(audio.samples[i])) abort();
    wx_audio_free(&audio);
    return 0;
}

const char *wx_fuzz_seed_file(void)
{
    static char path[4096];
    const char *dir = getenv("WX_FIXTURE_DIR");
    snprintf(path, sizeof path, "%s/audio_seeds", dir && *dir ? dir : "tests/fixtures");
    return path;
}
