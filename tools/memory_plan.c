/* memory_plan.c — wx-memory-plan: the batch the CUDA decoder-state budget allows for
 * Whisper tiny, medium and large-v3 on cards of 24, 48 and 80 GiB (or --gib N), computed by
 * the rule every job applies (wx_batch_for_budget over wx_whisper_state_bytes_for and
 * wx_whisper_scratch_bytes_for, fp16 weights and K/V). The free memory after the weights is
 * modelled as the card minus the CUDA context, the weights in 256 MiB arena chunks and the
 * cuBLAS workspace; the worker itself reads it from cudaMemGetInfo. Prints a markdown table.
 *   wx-memory-plan [--gib N]... [--beam B] [--context-mib M] [--headroom-mib H] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/whisper.h"
#include "pipeline/pipeline.h"

#define MIB 1048576.0
#define ARENA_CHUNK_MIB 256.0
#define BLAS_WORKSPACE_MIB 32.0
#define MAX_BATCH 64
#define MAX_CARDS 8

typedef struct model_shape {
    const char *name;
    wx_whisper_hparams hp;
} model_shape;

/* The official checkpoints' shapes (CTranslate2 config of Systran/faster-whisper-*). */
static const model_shape MODELS[] = {
    {"tiny", {80, 1500, 448, 384, 6, 4, 4, 51865}},
    {"medium", {80, 1500, 448, 1024, 16, 24, 24, 51865}},
    {"large-v3", {128, 1500, 448, 1280, 20, 32, 32, 51866}},
};

typedef struct plan_args {
    double gib[MAX_CARDS];
    int n_cards, beam;
    double context_mib, headroom_mib;
} plan_args;

static int parse(int argc, char **argv, plan_args *a)
{
    *a = (plan_args){{24, 48, 80}, 0, 5, 500, 512};
    int custom = 0;
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) return -1;
        if (strcmp(argv[i], "--gib") == 0 && custom < MAX_CARDS) a->gib[custom++] = atof(v);
        else if (strcmp(argv[i], "--beam") == 0) a->beam = atoi(v);
        else if (strcmp(argv[i], "--context-mib") == 0) a->context_mib = atof(v);
        else if (strcmp(argv[i], "--headroom-mib") == 0) a->headroom_mib = atof(v);
        else return -1;
        i++;
    }
    a->n_cards = custom ? custom : 3;
    return a->beam > 0 ? 0 : -1;
}

/* Bytes left for the decoder state on a card of `gib` GiB once the model is loaded. */
static double state_budget(const plan_args *a, const wx_whisper_hparams *hp, double gib)
{
    double weights = (double)wx_whisper_weight_bytes_for(hp, 2) / MIB;
    double chunks = ARENA_CHUNK_MIB * (double)(long)((weights + 1.0) / ARENA_CHUNK_MIB + 0.999999);
    return (gib * 1024.0 - a->context_mib - chunks - BLAS_WORKSPACE_MIB - a->headroom_mib) * MIB;
}

int main(int argc, char **argv)
{
    plan_args a;
    if (parse(argc, argv, &a) != 0) {
        fprintf(stderr, "usage: wx-memory-plan [--gib N]... [--beam B] [--context-mib M] "
                "[--headroom-mib H]\n");
        return 2;
    }
    printf("Batch (chunks decoded together, at most %d) that the CUDA decoder-state budget "
           "allows at beam %d\n(fp16 weights and K/V; card minus %.0f MiB CUDA context, "
           "weights in %.0f MiB chunks, %.0f MiB cuBLAS workspace, %.0f MiB headroom):\n\n",
           MAX_BATCH, a.beam, a.context_mib, ARENA_CHUNK_MIB, BLAS_WORKSPACE_MIB, a.headroom_mib);
    printf("| model | weights MiB | state + scratch MiB, 16 x %d |", a.beam);
    for (int c = 0; c < a.n_cards; c++) printf(" %.0f GiB |", a.gib[c]);
    printf("\n|---|---|---|");
    for (int c = 0; c < a.n_cards; c++) printf("---|");
    printf("\n");
    for (size_t m = 0; m < sizeof MODELS / sizeof MODELS[0]; m++) {
        const wx_whisper_hparams *hp = &MODELS[m].hp;
        printf("| %s | %.0f | %.0f |", MODELS[m].name,
               (double)wx_whisper_weight_bytes_for(hp, 2) / MIB,
               wx_state_need_bytes(hp, 2, 2, true, 16, a.beam) / MIB);
        for (int c = 0; c < a.n_cards; c++)
            printf(" %d |", wx_batch_for_budget(hp, 2, 2, true, state_budget(&a, hp, a.gib[c]),
                                                MAX_BATCH, a.beam));
        printf("\n");
    }
    return 0;
}
