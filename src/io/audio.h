/* audio.h — decode any container and codec FFmpeg's libraries read (WAV, FLAC, MP3, M4A/AAC,
 * MP4/MOV, WebM/Opus, OGG/Vorbis, …) into 16 kHz mono float32 samples identical to WhisperX's
 * `ffmpeg -nostdin -threads 0 -i … -f s16le -ac 1 -acodec pcm_s16le -ar 16000 -` / 32768. */
#ifndef WX_AUDIO_H
#define WX_AUDIO_H

#include <stddef.h>

#include "../base/wx_base.h"

#define WX_SAMPLE_RATE 16000
/* Default duration limit when the caller passes max_seconds ≤ 0 and WX_MAX_AUDIO_SECONDS is
 * unset: 4 hours. */
#define WX_DEFAULT_MAX_AUDIO_SECONDS (4.0 * 3600.0)

typedef struct wx_audio {
    float *samples;      /* (n_samples) mono, 16 kHz, s16 / 32768, malloc'd */
    size_t n_samples;
    int source_rate;     /* of the decoded stream (first frame) */
    int source_channels;
    double source_seconds; /* decoded duration at the source rate(s) */
    char format[64];     /* "<demuxer>, <decoder>", FFmpeg's short names, e.g. "mp3, mp3float" */
} wx_audio;

/* The duration limit in effect for max_seconds: itself when > 0, else WX_MAX_AUDIO_SECONDS
 * from the environment when it is a positive number, else 4 hours. */
double wx_audio_max_seconds(double max_seconds);

/* max_seconds bounds the decoded duration (see wx_audio_max_seconds): a container that
 * declares a longer duration is refused before decoding, and decoding stops with an error
 * once the output passes the limit (a header that lies, a decompression bomb). An empty,
 * unreadable, truncated or corrupt file, one without an audio stream or with a codec this
 * FFmpeg cannot decode, is an error with a message naming the cause. */
wx_status wx_audio_load_file(const char *path, double max_seconds, wx_audio *out, wx_err *err);
/* Same, from bytes in memory (no temporary file). */
wx_status wx_audio_load_memory(const void *data, size_t size, double max_seconds,
                               wx_audio *out, wx_err *err);
void wx_audio_free(wx_audio *audio);

#endif
