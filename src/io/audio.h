/* audio.h — decode any audio file libsndfile reads (WAV PCM/float/24-bit, FLAC,
 * OGG/Vorbis/Opus, MP3), downmix to mono and resample to 16 kHz float32 with libsoxr. */
#ifndef WX_AUDIO_H
#define WX_AUDIO_H

#include <stddef.h>

#include "../base/wx_base.h"

#define WX_SAMPLE_RATE 16000

typedef struct wx_audio {
    float *samples;      /* (n_samples) mono, 16 kHz, malloc'd */
    size_t n_samples;
    int source_rate;     /* what the file declared */
    int source_channels;
    double source_seconds;
    char format[64];     /* libsndfile's name for the container/codec */
} wx_audio;

/* max_seconds bounds the decoded duration (≤ 0: the default of 6 hours); longer files are
 * refused before decoding. An empty or unreadable file is an error. */
wx_status wx_audio_load_file(const char *path, double max_seconds, wx_audio *out, wx_err *err);
/* Same, from bytes in memory. */
wx_status wx_audio_load_memory(const void *data, size_t size, double max_seconds,
                               wx_audio *out, wx_err *err);
void wx_audio_free(wx_audio *audio);

#endif
