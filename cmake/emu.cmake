# cmake/emu.cmake — the CUDA emulator (kernels/emu): static library `wxemu`, built with the
# host C++ compiler, and its own tests (tests/emu/test_*.cpp). Anything that links wxemu is
# compiled with WX_CUDA_EMU and finds the emulated <cuda_runtime.h>, <cuda_fp16.h>,
# <cublas_v2.h>, <cudnn.h> (the legacy convolution calls) and <mma.h> (WMMA) first; the
# toolkit's include directory must stay off such targets.
enable_language(CXX)
get_filename_component(WXEMU_ROOT ${CMAKE_CURRENT_LIST_DIR}/.. ABSOLUTE)

pkg_check_modules(WXEMU_BLAS REQUIRED IMPORTED_TARGET openblas)

file(GLOB WXEMU_SOURCES CONFIGURE_DEPENDS ${WXEMU_ROOT}/kernels/emu/*.cpp)
add_library(wxemu STATIC ${WXEMU_SOURCES})
target_compile_features(wxemu PUBLIC cxx_std_17)
set_target_properties(wxemu PROPERTIES CXX_EXTENSIONS OFF)
target_compile_definitions(wxemu PUBLIC WX_CUDA_EMU)
target_include_directories(wxemu PUBLIC ${WXEMU_ROOT}/kernels/emu/include)
target_link_libraries(wxemu PUBLIC PkgConfig::WXEMU_BLAS Threads::Threads)

# Emulator tests: each kernel lives in its test file; "common.cuh" comes from kernels/.
file(GLOB WXEMU_TESTS CONFIGURE_DEPENDS ${WXEMU_ROOT}/tests/emu/test_*.cpp)
foreach(src ${WXEMU_TESTS})
  get_filename_component(name ${src} NAME_WE)
  add_executable(${name} ${src} ${WXEMU_ROOT}/src/base/wx_base.c)
  target_link_libraries(${name} PRIVATE wxemu m)
  target_include_directories(${name} PRIVATE ${WXEMU_ROOT}/kernels ${WXEMU_ROOT}/tests ${WXEMU_ROOT}/src)
  set_target_properties(${name} PROPERTIES CXX_EXTENSIONS OFF)
  add_test(NAME ${name} COMMAND ${name} WORKING_DIRECTORY ${WXEMU_ROOT})
  set_tests_properties(${name} PROPERTIES TIMEOUT 120 ENVIRONMENT "OPENBLAS_NUM_THREADS=1")
endforeach()

# Speed figures of the emulator (a command, not a test): fiber switch, layer norm launch.
add_executable(emu_bench ${WXEMU_ROOT}/tests/emu/bench_emu.cpp)
target_link_libraries(emu_bench PRIVATE wxemu)
target_include_directories(emu_bench PRIVATE ${WXEMU_ROOT}/kernels)
set_target_properties(emu_bench PROPERTIES CXX_EXTENSIONS OFF)
