# The CUDA backend (src/backend/cuda): built when the CUDA toolkit (nvcc, cudart,
# cuBLASLt) is found, unless VG_CUDA=OFF. Without the toolkit vgen builds as before
# and runs on the CPU. The binary links cudart and cuBLASLt dynamically; on a machine
# without a GPU or driver it starts and runs on the CPU, and `--device cuda` says
# why there is no device. Sanitizer and fuzz builds leave it off by default (the
# CUDA code cannot run there, and nvcc does not take their flags).
set(VG_CUDA_DEFAULT ON)
if(VG_SANITIZE OR VG_FUZZ)
  set(VG_CUDA_DEFAULT OFF)
endif()
option(VG_CUDA "Build the CUDA backend when the CUDA toolkit is found" ${VG_CUDA_DEFAULT})
set(VG_CUDA_ARCHS "80;86;89;90" CACHE STRING "GPU architectures of the CUDA backend (sm_80 A100, 86 RTX 3090/A5000, 89 RTX 4090/L4, 90 H100/H200)")

set(VG_HAVE_CUDA OFF)
if(VG_CUDA)
  if(NOT CMAKE_CUDA_COMPILER AND NOT DEFINED ENV{CUDACXX} AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    set(CMAKE_CUDA_ARCHITECTURES ${VG_CUDA_ARCHS})
    enable_language(CUDA)
    find_package(CUDAToolkit)
    if(CUDAToolkit_FOUND AND TARGET CUDA::cublasLt)
      set(VG_HAVE_CUDA ON)
    endif()
  endif()
endif()
if(VG_HAVE_CUDA)
  message(STATUS "vgen: CUDA backend ON (nvcc ${CMAKE_CUDA_COMPILER_VERSION}, sm ${VG_CUDA_ARCHS})")
else()
  message(STATUS "vgen: CUDA backend OFF (VG_CUDA=${VG_CUDA}; toolkit not found or disabled)")
endif()

# Adds the CUDA backend's sources to `lib` (vgen_core) when it is built.
function(vg_cuda_module lib)
  if(NOT VG_HAVE_CUDA)
    return()
  endif()
  file(GLOB csrc CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/backend/cuda/*.c)
  file(GLOB cusrc CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/backend/cuda/*.cu)
  target_sources(${lib} PRIVATE ${csrc} ${cusrc})
  target_compile_definitions(${lib} PUBLIC VG_HAVE_CUDA=1)
  target_include_directories(${lib} PRIVATE ${CUDAToolkit_INCLUDE_DIRS})
  target_link_libraries(${lib} PUBLIC CUDA::cudart CUDA::cublasLt stdc++)
  set_source_files_properties(${cusrc} PROPERTIES COMPILE_OPTIONS "-O3;-lineinfo;-Xcompiler=-fPIC")
endfunction()
