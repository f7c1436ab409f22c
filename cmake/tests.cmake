# Unit tests: tests/<module>/test_*.c, one executable each, linked to vgen_<module>
# (tests/core -> vgen_core, ...). Each prints "N passed, N failed" and exits non-zero on failure.
foreach(mod core text sched video models residency pipeline cli)
  file(GLOB tsrcs CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/${mod}/test_*.c)
  set(lib vgen_${mod})
  if(mod STREQUAL "cli")
    set(lib vgen_pipeline)
  endif()
  foreach(t ${tsrcs})
    get_filename_component(n ${t} NAME_WE)
    add_executable(${n} ${t})
    target_include_directories(${n} PRIVATE ${CMAKE_SOURCE_DIR}/tests)
    target_link_libraries(${n} PRIVATE ${lib})
    target_compile_definitions(${n} PRIVATE VG_GOLDEN_FALLBACK="${VG_GOLDEN_DIR}" VG_SOURCE_FALLBACK="${CMAKE_SOURCE_DIR}")
    add_test(NAME ${mod}/${n} COMMAND ${n})
    set_tests_properties(${mod}/${n} PROPERTIES
      ENVIRONMENT "VG_GOLDEN=${VG_GOLDEN_DIR};VG_SOURCE_DIR=${CMAKE_SOURCE_DIR};VG_BINARY_DIR=${CMAKE_BINARY_DIR};OMP_NUM_THREADS=2")
  endforeach()
endforeach()

# The video writer under valgrind: no invalid or uninitialised reads (identical
# MP4 bytes on every run depend on it). valgrind comes from scripts/install-deps.sh.
add_executable(valgrind_video_writer ${CMAKE_SOURCE_DIR}/tests/video/valgrind_video_writer.c)
target_link_libraries(valgrind_video_writer PRIVATE vgen_video)
if(NOT VG_SANITIZE AND NOT VG_FUZZ)   # valgrind and ASan do not mix
  add_test(NAME video/valgrind COMMAND valgrind --error-exitcode=9 --track-origins=yes --quiet
    $<TARGET_FILE:valgrind_video_writer> ${CMAKE_BINARY_DIR})
endif()

# Golden runner: every set found in the golden folder, one PASS/FAIL line per check.
file(GLOB GOLDEN_SRCS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/golden/*.c)
if(GOLDEN_SRCS)
  add_executable(vgen-golden ${GOLDEN_SRCS})
  target_include_directories(vgen-golden PRIVATE ${CMAKE_SOURCE_DIR}/tests)
  target_link_libraries(vgen-golden PRIVATE vgen_pipeline)
  target_compile_definitions(vgen-golden PRIVATE VG_GOLDEN_DEFAULT="${CMAKE_SOURCE_DIR}/tests/data/golden")
  add_test(NAME golden COMMAND vgen-golden ${VG_GOLDEN_DIR})
  set_tests_properties(golden PROPERTIES ENVIRONMENT "OMP_NUM_THREADS=2")
  # the same sets with every activation on the strict simulated device
  add_test(NAME golden_sim COMMAND vgen-golden --device sim:4GiB ${VG_GOLDEN_DIR})
  set_tests_properties(golden_sim PROPERTIES ENVIRONMENT "OMP_NUM_THREADS=2")
  # and on the GPU: counted as skipped (exit 77) where there is none
  # (one GPU test at a time: each takes its budget from the card's free memory)
  add_test(NAME golden_cuda COMMAND vgen-golden --device cuda:4GiB ${VG_GOLDEN_DIR})
  set_tests_properties(golden_cuda PROPERTIES ENVIRONMENT "OMP_NUM_THREADS=2" SKIP_RETURN_CODE 77 RESOURCE_LOCK gpu)
endif()

# the CUDA backend's element conversions (GGUF dequantization, fp8, f16/bf16),
# run on the host against the scalar references: needs nvcc, not a GPU
if(VG_HAVE_CUDA)
  add_executable(test_cuda_on_host ${CMAKE_SOURCE_DIR}/tests/core/test_cuda_on_host.cu)
  target_include_directories(test_cuda_on_host PRIVATE ${CMAKE_SOURCE_DIR}/tests)
  target_link_libraries(test_cuda_on_host PRIVATE vgen_core)
  add_test(NAME core/test_cuda_on_host COMMAND test_cuda_on_host)
  # the kernels' bodies with bf16 activations in and out (one rounding when stored)
  add_executable(test_cuda_bf16_on_host ${CMAKE_SOURCE_DIR}/tests/core/test_cuda_bf16_on_host.cu)
  target_include_directories(test_cuda_bf16_on_host PRIVATE ${CMAKE_SOURCE_DIR}/tests)
  target_link_libraries(test_cuda_bf16_on_host PRIVATE vgen_core)
  add_test(NAME core/test_cuda_bf16_on_host COMMAND test_cuda_bf16_on_host)
  # the tensor-core attention kernel's block code with a host stand-in for WMMA
  add_executable(test_cuda_tc_attention_on_host ${CMAKE_SOURCE_DIR}/tests/core/test_cuda_tc_attention_on_host.cu)
  target_include_directories(test_cuda_tc_attention_on_host PRIVATE ${CMAKE_SOURCE_DIR}/tests)
  target_link_libraries(test_cuda_tc_attention_on_host PRIVATE vgen_core)
  add_test(NAME core/test_cuda_tc_attention_on_host COMMAND test_cuda_tc_attention_on_host)
endif()
# bf16 activations on cuda-plan: skipped (exit 77) in a build without the CUDA backend
set_tests_properties(core/test_cuda_plan_act PROPERTIES SKIP_RETURN_CODE 77)

# the op x backend table again with every CPU parallel loop forking (a grain of 1):
# at the table's small shapes the default grain runs everything serially, and the
# multi-threaded paths must match the float64 references too
add_test(NAME core/test_backend_ops_threads COMMAND test_backend_ops)
set_tests_properties(core/test_backend_ops_threads PROPERTIES ENVIRONMENT "OMP_NUM_THREADS=2;VGEN_CPU_GRAIN=1")

# every op of the op x backend table on the GPU against the CPU backend; skipped
# (exit 77) without a CUDA device or without a CUDA build
add_test(NAME core/test_backend_ops_cuda COMMAND test_backend_ops --device cuda:1GiB)
set_tests_properties(core/test_backend_ops_cuda PROPERTIES ENVIRONMENT "OMP_NUM_THREADS=2" SKIP_RETURN_CODE 77
  RESOURCE_LOCK gpu)
# decoded video pieces into device memory and down to the host on the GPU
add_test(NAME core/test_video_dst_cuda COMMAND test_video_dst --device cuda:1GiB)
set_tests_properties(core/test_video_dst_cuda PROPERTIES SKIP_RETURN_CODE 77 RESOURCE_LOCK gpu)

# CLI behaviour tests (shell scripts driving the real binary and ffprobe)
file(GLOB CLI_TESTS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/cli/*.sh)
foreach(t ${CLI_TESTS})
  get_filename_component(n ${t} NAME_WE)
  add_test(NAME cli/${n} COMMAND bash ${t} $<TARGET_FILE:vgen> ${VG_GOLDEN_DIR} ${CMAKE_SOURCE_DIR})
endforeach()

# Benchmarks (built, not run by the tests)
file(GLOB BENCH_SRCS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/bench/bench_*.c)
foreach(b ${BENCH_SRCS})
  get_filename_component(n ${b} NAME_WE)
  add_executable(${n} ${b} ${CMAKE_SOURCE_DIR}/bench/common/bench_model.c)
  target_include_directories(${n} PRIVATE ${CMAKE_SOURCE_DIR}/tests ${CMAKE_SOURCE_DIR}/bench)
  target_link_libraries(${n} PRIVATE vgen_pipeline)
endforeach()

# libFuzzer targets: tests/fuzz/fuzz_*.c (clang only)
# Each needs only the library it fuzzes; the whole tree is instrumented (see CMakeLists.txt).
if(VG_FUZZ)
  add_custom_target(fuzz_targets)
  file(GLOB FUZZ_SRCS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_*.c)
  foreach(f ${FUZZ_SRCS})
    get_filename_component(n ${f} NAME_WE)
    add_executable(${n} ${f})
    target_include_directories(${n} PRIVATE ${CMAKE_SOURCE_DIR}/tests)
    target_link_options(${n} PRIVATE -fsanitize=fuzzer)
    target_link_libraries(${n} PRIVATE vgen_serve vgen_pipeline)
    add_dependencies(fuzz_targets ${n})
  endforeach()
endif()

# The demo-model test runs many tiny generations: one thread each is fastest, and
# two OpenMP/BLAS threads on a busy machine spend most of their time at barriers.
if(TEST pipeline/test_demo_wan)
  set_tests_properties(pipeline/test_demo_wan PROPERTIES
    ENVIRONMENT "VG_SOURCE_DIR=${CMAKE_SOURCE_DIR};OMP_NUM_THREADS=1;OPENBLAS_NUM_THREADS=1")
endif()

# vgen serve: the real binary on loopback, driven by curl (shell) and Python clients.
# test_*.sh / test_*.py use the standard library only; pypi_*.py use the packages that
# tests/serve/setup-venv.sh installs into tests/serve/.venv (the serve_venv fixture).
file(GLOB SERVE_SH CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/serve/test_*.sh)
file(GLOB SERVE_PY CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/serve/test_*.py)
file(GLOB SERVE_PYPI CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/serve/pypi_*.py)
foreach(t ${SERVE_SH})
  get_filename_component(n ${t} NAME_WE)
  add_test(NAME serve/${n} COMMAND bash ${t} $<TARGET_FILE:vgen> ${VG_GOLDEN_DIR} ${CMAKE_SOURCE_DIR})
  set_tests_properties(serve/${n} PROPERTIES TIMEOUT 600 RESOURCE_LOCK serve)
endforeach()
foreach(t ${SERVE_PY})
  get_filename_component(n ${t} NAME_WE)
  add_test(NAME serve/${n} COMMAND python3 ${t} $<TARGET_FILE:vgen> ${CMAKE_SOURCE_DIR})
  set_tests_properties(serve/${n} PROPERTIES TIMEOUT 600 RESOURCE_LOCK serve)
endforeach()
if(SERVE_PYPI)
  add_test(NAME serve/venv COMMAND bash ${CMAKE_SOURCE_DIR}/tests/serve/setup-venv.sh)
  set_tests_properties(serve/venv PROPERTIES FIXTURES_SETUP serve_venv TIMEOUT 600)
  foreach(t ${SERVE_PYPI})
    get_filename_component(n ${t} NAME_WE)
    add_test(NAME serve/${n} COMMAND ${CMAKE_SOURCE_DIR}/tests/serve/.venv/bin/python ${t} $<TARGET_FILE:vgen> ${CMAKE_SOURCE_DIR})
    set_tests_properties(serve/${n} PROPERTIES TIMEOUT 600 RESOURCE_LOCK serve FIXTURES_REQUIRED serve_venv)
  endforeach()
endif()
