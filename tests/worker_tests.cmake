# worker_tests.cmake — ctest registrations for the runtime's Python-driven tests: a fake RunPod
# queue and the local HTTP API, both on 127.0.0.1, driving the real whisperx-worker binary.
# Included from CMakeLists.txt after the whisperx-worker target; needs python3 (stdlib only).
find_package(Python3 COMPONENTS Interpreter)
if(Python3_Interpreter_FOUND)
  set(WX_WORKER_TEST_ENV
    "WX_MODEL_DIR=${WX_MODEL_DIR};WX_DATA_DIR=${WX_DATA_DIR};WX_WORKER_BIN=$<TARGET_FILE:whisperx-worker>;OPENBLAS_NUM_THREADS=1;WX_THREADS=2")
  foreach(scenario protocol limits sigterm leak crash soak)
    add_test(NAME worker_queue_${scenario}
             COMMAND ${Python3_EXECUTABLE} ${CMAKE_SOURCE_DIR}/tests/worker_queue_test.py ${scenario}
             WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
    set_tests_properties(worker_queue_${scenario} PROPERTIES TIMEOUT 300 ENVIRONMENT "${WX_WORKER_TEST_ENV}")
  endforeach()
  add_test(NAME worker_local
           COMMAND ${Python3_EXECUTABLE} ${CMAKE_SOURCE_DIR}/tests/worker_local_test.py
           WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  # Under ThreadSanitizer (10-20x slower) the test keeps one recording per feature:
  # WX_TEST_LIGHT=1 times words on jfk.wav only and diarizes sample.wav once (327 s in CI).
  if(WX_TSAN)
    set_tests_properties(worker_local PROPERTIES TIMEOUT 600
                         ENVIRONMENT "${WX_WORKER_TEST_ENV};WX_TEST_LIGHT=1")
  else()
    set_tests_properties(worker_local PROPERTIES TIMEOUT 300 ENVIRONMENT "${WX_WORKER_TEST_ENV}")
  endif()
  # pyannote's gated pipelines from a stand-in hub (tests/fake_hub.py): token, cache, fallback.
  add_test(NAME worker_hub
           COMMAND ${Python3_EXECUTABLE} ${CMAKE_SOURCE_DIR}/tests/worker_hub_test.py
           WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(worker_hub PROPERTIES TIMEOUT 300 ENVIRONMENT "${WX_WORKER_TEST_ENV}")
  foreach(scenario main hardening crash)
    add_test(NAME worker_api_${scenario}
             COMMAND ${Python3_EXECUTABLE} ${CMAKE_SOURCE_DIR}/tests/worker_api_test.py ${scenario}
             WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
    set_tests_properties(worker_api_${scenario} PROPERTIES TIMEOUT 300 ENVIRONMENT "${WX_WORKER_TEST_ENV}")
  endforeach()
endif()
