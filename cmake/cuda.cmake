# cmake/cuda.cmake — the CUDA backend (kernels/*.cu + src/backend/cuda/*.cu). With nvcc:
# the `wxcuda` library for sm_80/86/89/90 plus PTX, linked with cuBLAS and cuDNN into wxcore
# (WX_HAVE_CUDA), and the GPU op suite (skips without a device). With the emulator target `wxemu` (always): the
# same sources compiled as C++ into `wxcuda_emu`, and the emulated op and model suites run
# against the CPU backend.
include(CheckLanguage)

file(GLOB WX_CUDA_SOURCES CONFIGURE_DEPENDS
  ${CMAKE_SOURCE_DIR}/kernels/*.cu ${CMAKE_SOURCE_DIR}/src/backend/cuda/*.cu)
set(WX_CUDA_TEST_ENV
  "WX_MODEL_DIR=${WX_MODEL_DIR};WX_DATA_DIR=${WX_DATA_DIR};WX_FIXTURE_DIR=${CMAKE_SOURCE_DIR}/tests/fixtures;OPENBLAS_NUM_THREADS=1")

option(WX_WITH_NVCC "Build the real CUDA backend when nvcc is found" ON)
if(WX_WITH_NVCC)
  check_language(CUDA)
endif()
if(WX_WITH_NVCC AND CMAKE_CUDA_COMPILER)
  if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
    set(CMAKE_CUDA_ARCHITECTURES "80-real;86-real;89-real;90-real;90-virtual")
  endif()
  # The shared cudart only (CMake's default adds -lcudart_static beside CUDA::cudart).
  set(CMAKE_CUDA_RUNTIME_LIBRARY Shared)
  enable_language(CUDA)
  find_package(CUDAToolkit REQUIRED)
  # cuDNN 9 (conv2d of the speaker-embedding ResNet, src/backend/cuda/ops_conv2d.cu): the
  # toolkit's directories first, then CUDNN_ROOT / the system's.
  find_path(WX_CUDNN_INCLUDE_DIR cudnn.h
    HINTS ${CUDNN_ROOT} ${CUDAToolkit_INCLUDE_DIRS} PATH_SUFFIXES include)
  find_library(WX_CUDNN_LIBRARY cudnn
    HINTS ${CUDNN_ROOT} ${CUDAToolkit_LIBRARY_DIR} PATH_SUFFIXES lib lib64)
  if(NOT WX_CUDNN_INCLUDE_DIR OR NOT WX_CUDNN_LIBRARY)
    message(FATAL_ERROR "nvcc was found but cuDNN was not (cudnn.h: ${WX_CUDNN_INCLUDE_DIR}, "
      "libcudnn: ${WX_CUDNN_LIBRARY}). Install cuDNN 9 for this CUDA (e.g. the "
      "cudnn9-cuda-12 packages, or the nvidia/cuda *-cudnn-devel image), point -DCUDNN_ROOT= "
      "at it, or configure with -DWX_WITH_NVCC=OFF for a build without the CUDA backend.")
  endif()
  file(STRINGS ${WX_CUDNN_INCLUDE_DIR}/cudnn_version.h wx_cudnn_major
    REGEX "^#define CUDNN_MAJOR [0-9]+")
  if(NOT wx_cudnn_major MATCHES "CUDNN_MAJOR 9")
    message(FATAL_ERROR "cuDNN 9 is needed; ${WX_CUDNN_INCLUDE_DIR}/cudnn_version.h has "
      "'${wx_cudnn_major}'")
  endif()
  message(STATUS "cuDNN: ${WX_CUDNN_LIBRARY}")
  add_library(wx_cudnn INTERFACE)
  target_include_directories(wx_cudnn INTERFACE ${WX_CUDNN_INCLUDE_DIR})
  target_link_libraries(wx_cudnn INTERFACE ${WX_CUDNN_LIBRARY})
  add_library(wxcuda STATIC ${WX_CUDA_SOURCES})
  # The top-level flags are for the host compilers (-Wall, -march): nvcc gets its own.
  set_property(TARGET wxcuda PROPERTY COMPILE_OPTIONS "")
  # -lineinfo: compute-sanitizer and Nsight name the source line of a faulting access.
  target_compile_options(wxcuda PRIVATE -O3 -lineinfo -Xcompiler=-Wall,-Wextra
    -D_GNU_SOURCE)
  string(REPLACE ";" " " wx_archs "${CMAKE_CUDA_ARCHITECTURES}")
  target_compile_definitions(wxcuda PRIVATE "WX_CUDA_ARCHS=\"${wx_archs}\"")
  set_target_properties(wxcuda PROPERTIES CUDA_RUNTIME_LIBRARY Shared)
  set_target_properties(wxcuda PROPERTIES CUDA_STANDARD 17 CUDA_STANDARD_REQUIRED ON)
  target_include_directories(wxcuda PUBLIC ${CMAKE_SOURCE_DIR}/src)
  target_link_libraries(wxcuda PUBLIC wxcore wx_cudnn CUDA::cublas CUDA::cudart)
  target_compile_definitions(wxcore PUBLIC WX_HAVE_CUDA)
  target_link_libraries(wxcore PUBLIC wxcuda wx_cudnn CUDA::cublas CUDA::cudart)

  # The op suite on the real device: exits 77 (ctest SKIP) without one.
  add_executable(test_cuda_ops_gpu tests/cuda/test_cuda_ops.cpp)
  target_link_libraries(test_cuda_ops_gpu PRIVATE wxcore)
  target_include_directories(test_cuda_ops_gpu PRIVATE tests)
  add_test(NAME test_cuda_ops_gpu COMMAND test_cuda_ops_gpu WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(test_cuda_ops_gpu PROPERTIES TIMEOUT 600 SKIP_RETURN_CODE 77
    ENVIRONMENT "${WX_CUDA_TEST_ENV}")
  add_executable(test_cuda_model_gpu tests/cuda/test_cuda_model.cpp)
  target_link_libraries(test_cuda_model_gpu PRIVATE wxcore)
  target_include_directories(test_cuda_model_gpu PRIVATE tests)
  add_test(NAME test_cuda_model_gpu COMMAND test_cuda_model_gpu WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(test_cuda_model_gpu PROPERTIES TIMEOUT 600 SKIP_RETURN_CODE 77
    ENVIRONMENT "${WX_CUDA_TEST_ENV}")
  # The pyannote / GE2E ops (abs, max_pool1d, leaky_relu, sigmoid, lstm) on the device.
  add_executable(test_cuda_vad_gpu tests/cuda/test_cuda_vad.cpp)
  target_link_libraries(test_cuda_vad_gpu PRIVATE wxcore)
  target_include_directories(test_cuda_vad_gpu PRIVATE tests)
  add_test(NAME test_cuda_vad_gpu COMMAND test_cuda_vad_gpu WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(test_cuda_vad_gpu PROPERTIES TIMEOUT 600 SKIP_RETURN_CODE 77
    ENVIRONMENT "${WX_CUDA_TEST_ENV}")
  # The ResNet34 ops (conv2d on cuDNN, stats_pool) on the device.
  add_executable(test_cuda_resnet_gpu tests/cuda/test_cuda_resnet.cpp)
  target_link_libraries(test_cuda_resnet_gpu PRIVATE wxcore)
  target_include_directories(test_cuda_resnet_gpu PRIVATE tests)
  add_test(NAME test_cuda_resnet_gpu COMMAND test_cuda_resnet_gpu
    WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(test_cuda_resnet_gpu PROPERTIES TIMEOUT 600 SKIP_RETURN_CODE 77
    ENVIRONMENT "${WX_CUDA_TEST_ENV}")
  # Throughput rows of the GPU check (scripts/gpu_check.sh).
  add_executable(wx-gpu-bench tools/gpu_bench.c)
  target_link_libraries(wx-gpu-bench PRIVATE wxcore)
  add_executable(test_cuda_robust_gpu tests/cuda/test_cuda_robust.cpp)
  target_link_libraries(test_cuda_robust_gpu PRIVATE wxcore)
  target_include_directories(test_cuda_robust_gpu PRIVATE tests src)
  add_test(NAME test_cuda_robust_gpu COMMAND test_cuda_robust_gpu WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(test_cuda_robust_gpu PROPERTIES TIMEOUT 600 SKIP_RETURN_CODE 77
    ENVIRONMENT "${WX_CUDA_TEST_ENV}")
  add_executable(test_cuda_pipeline_gpu tests/cuda/test_cuda_pipeline.cpp)
  target_link_libraries(test_cuda_pipeline_gpu PRIVATE wxcore)
  target_include_directories(test_cuda_pipeline_gpu PRIVATE tests src)
  add_test(NAME test_cuda_pipeline_gpu COMMAND test_cuda_pipeline_gpu
    WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(test_cuda_pipeline_gpu PROPERTIES TIMEOUT 600 SKIP_RETURN_CODE 77
    ENVIRONMENT "${WX_CUDA_TEST_ENV}")
endif()

if(TARGET wxemu)
  # Each .cu is compiled by the host C++ compiler through a one-line wrapper, so that the
  # same source file can also belong to wxcuda with LANGUAGE CUDA.
  set(WX_CUDA_EMU_SOURCES)
  foreach(src ${WX_CUDA_SOURCES})
    file(RELATIVE_PATH rel ${CMAKE_SOURCE_DIR} ${src})
    string(REPLACE "/" "_" flat ${rel})
    set(wrapper ${CMAKE_BINARY_DIR}/cuda_emu/${flat}.cpp)
    file(CONFIGURE OUTPUT ${wrapper} CONTENT "#include \"${src}\"\n")
    list(APPEND WX_CUDA_EMU_SOURCES ${wrapper})
  endforeach()
  # The model, weights and CPU backend without wxcore's link to the real CUDA runtime.
  file(GLOB WX_CUDA_EMU_CORE CONFIGURE_DEPENDS
    src/base/*.c src/io/*.c src/backend/*.c src/backend/cpu/*.c src/models/*.c
    src/pipeline/beam_search.c)
  add_library(wxcore_emu STATIC ${WX_CUDA_EMU_CORE})
  target_include_directories(wxcore_emu PUBLIC src)
  target_compile_definitions(wxcore_emu PUBLIC WX_VERSION="${PROJECT_VERSION}")
  target_link_libraries(wxcore_emu PUBLIC PkgConfig::DEPS Threads::Threads m)

  add_library(wxcuda_emu STATIC ${WX_CUDA_EMU_SOURCES})
  target_compile_definitions(wxcuda_emu PUBLIC WX_CUDA_EMU)
  target_compile_definitions(wxcuda_emu PRIVATE "WX_CUDA_ARCHS=\"emulated\"")
  target_compile_features(wxcuda_emu PUBLIC cxx_std_17)
  target_include_directories(wxcuda_emu PUBLIC src)
  target_link_libraries(wxcuda_emu PUBLIC wxemu wxcore_emu)

  # The pipeline (VAD, windows, beam search) with Whisper on the emulated CUDA backend, as
  # the worker runs it with --device cuda.
  file(GLOB WX_PIPELINE_SOURCES CONFIGURE_DEPENDS src/pipeline/*.c)
  list(FILTER WX_PIPELINE_SOURCES EXCLUDE REGEX "beam_search\\.c$")
  add_library(wxpipeline_emu STATIC ${WX_PIPELINE_SOURCES})
  target_compile_definitions(wxpipeline_emu PRIVATE WX_HAVE_CUDA)
  target_link_libraries(wxpipeline_emu PUBLIC wxcuda_emu wxcore_emu)

  # The GPU check's dry run (scripts/gpu_check.sh --emulate): the same bench, emulated.
  add_executable(wx-gpu-bench-emu tools/gpu_bench.c)
  target_link_libraries(wx-gpu-bench-emu PRIVATE wxpipeline_emu wxcuda_emu wxcore_emu)
  set_target_properties(wx-gpu-bench-emu PROPERTIES LINKER_LANGUAGE CXX)

  foreach(name test_cuda_ops test_cuda_vad test_cuda_resnet test_cuda_model test_cuda_pipeline
           test_cuda_robust)
    add_executable(${name}_emu tests/cuda/${name}.cpp)
    target_link_libraries(${name}_emu PRIVATE wxpipeline_emu wxcuda_emu wxcore_emu)
    target_include_directories(${name}_emu PRIVATE tests)
    add_test(NAME ${name}_emu COMMAND ${name}_emu WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
    set_tests_properties(${name}_emu PROPERTIES TIMEOUT 600 ENVIRONMENT "${WX_CUDA_TEST_ENV}")
  endforeach()
endif()
