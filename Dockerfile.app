# Dockerfile.app — the thin app layer: compiles the worker in a devel image with the README's
# CMake build (Release; the CUDA architectures CMakeLists.txt names: sm_80/86/89/90 SASS plus
# PTX, with nvcc >= 12.8 also sm_100/120) and copies only the binary onto the base image of
# Dockerfile.base. Rebuilt on every code change; no model is downloaded.
#   docker build -f Dockerfile.app -t whisperx-worker:<tag> \
#       --build-arg BASE_IMAGE=whisperx-worker-base:<tag> .
# Build args:
#   BASE_IMAGE    the base image (Dockerfile.base) the binary lands on
#   CUDA_DEVEL    the build stage's image (its distribution must match the base's: the binary
#                 links the base's FFmpeg and OpenBLAS libraries)
#   REQUIRE_CUDA  1 (default): the build fails when the devel image has no nvcc; 0: a
#                 CPU-only worker is built then (tests/image_test.sh on a plain Debian image)
#   CUDA_ARCHITECTURES  overrides CMake's CMAKE_CUDA_ARCHITECTURES (e.g. "90-real")
ARG CUDA_DEVEL=nvidia/cuda:12.6.3-cudnn-devel-ubuntu24.04
ARG BASE_IMAGE=whisperx-worker-base:latest

FROM ${CUDA_DEVEL} AS build
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update && apt-get install -y --no-install-recommends \
        build-essential cmake pkg-config libavformat-dev libavcodec-dev libswresample-dev \
        libavutil-dev libopenblas-dev \
        libpcre2-dev libjansson-dev libcurl4-openssl-dev libutf8proc-dev libmicrohttpd-dev \
        libyaml-dev zlib1g-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# What CMakeLists.txt configures from (its globs and add_executable lines name files in all
# of these); models, build trees and caches stay out (.dockerignore).
COPY CMakeLists.txt ./
COPY cmake/ cmake/
COPY src/ src/
COPY kernels/ kernels/
COPY tests/ tests/
COPY tools/ tools/
ARG REQUIRE_CUDA=1
ARG CUDA_ARCHITECTURES=""
RUN export PATH="$PATH:/usr/local/cuda/bin"; \
    if ! command -v nvcc >/dev/null; then \
        if [ "$REQUIRE_CUDA" = 1 ]; then \
            echo "no nvcc in $(. /etc/os-release; echo "$PRETTY_NAME"): use a CUDA devel image, or REQUIRE_CUDA=0 for a CPU-only worker" >&2; \
            exit 1; \
        fi; \
        echo "no CUDA toolkit in the build image: building a CPU-only worker" >&2; \
    fi; \
    cmake -S . -B build -DCMAKE_BUILD_TYPE=Release \
        ${CUDA_ARCHITECTURES:+-DCMAKE_CUDA_ARCHITECTURES="$CUDA_ARCHITECTURES"} \
    && cmake --build build -j"$(nproc)" --target whisperx-worker \
    && strip build/whisperx-worker

FROM ${BASE_IMAGE}
COPY --from=build /src/build/whisperx-worker /usr/local/bin/whisperx-worker
CMD ["whisperx-worker"]
