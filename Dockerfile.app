# Dockerfile.app — the thin app layer: compiles the worker (CUDA backend included) in a
# devel image and copies only the binary onto the base image of Dockerfile.base.
ARG CUDA_DEVEL=nvidia/cuda:12.6.3-cudnn-devel-ubuntu24.04
ARG BASE_IMAGE=whisperx-worker-base:latest

FROM ${CUDA_DEVEL} AS build
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update && apt-get install -y --no-install-recommends \
        build-essential cmake pkg-config libavformat-dev libavcodec-dev libswresample-dev \
        libavutil-dev libopenblas-dev \
        libpcre2-dev libjansson-dev libcurl4-openssl-dev libutf8proc-dev libmicrohttpd-dev \
        zlib1g-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt ./
COPY cmake/ cmake/
COPY src/ src/
COPY kernels/ kernels/
COPY tests/ tests/
COPY tools/*.c tools/
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release \
    && cmake --build build -j"$(nproc)" --target whisperx-worker

FROM ${BASE_IMAGE}
COPY --from=build /src/build/whisperx-worker /usr/local/bin/whisperx-worker
ENV WX_MODEL_DIR=/opt/whisperx-worker/models/tiny.en
CMD ["whisperx-worker"]
