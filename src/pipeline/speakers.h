/* speakers.h — private to src/pipeline/: speakers on segments and words from diarization
 * turns, as WhisperX 3.8.6's assign_word_speakers (whisperx/diarize.py) gives them. */
#ifndef WX_PIPELINE_SPEAKERS_H
#define WX_PIPELINE_SPEAKERS_H

#include <stdbool.h>

#include "pipeline.h"

/* Sets speaker on every segment and on every timed word of tr from tr->turns: the speaker
 * with the largest summed intersection (the first such in WhisperX's order on a tie); with
 * fill_nearest, one without any intersection takes the speaker of the turn whose midpoint is
 * nearest its own. Without turns nothing changes. */
void wx_assign_speakers(wx_transcript *tr, bool fill_nearest);

#endif
