# FindNCCL: NCCL headers and library. NCCL_ROOT, when set, is the only place
# looked at (the torch wheel's nvidia/nccl, so that the process loads the one
# NCCL that LibTorch itself loads); else CUDA_HOME and /usr/local/cuda (where
# the CUDA toolkit installs it). The wheel ships only libnccl.so.2.
#   NCCL_FOUND, NCCL::nccl (imported target), NCCL_INCLUDE_DIR, NCCL_LIBRARY
if(NCCL_ROOT)
  set(_nccl_find HINTS ${NCCL_ROOT} NO_DEFAULT_PATH)
else()
  set(_nccl_find HINTS $ENV{NCCL_ROOT} $ENV{CUDA_HOME} /usr/local/cuda)
endif()
find_path(NCCL_INCLUDE_DIR nccl.h ${_nccl_find} PATH_SUFFIXES include)
find_library(NCCL_LIBRARY NAMES nccl libnccl.so.2 ${_nccl_find} PATH_SUFFIXES lib64 lib)
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(NCCL DEFAULT_MSG NCCL_LIBRARY NCCL_INCLUDE_DIR)
if(NCCL_FOUND AND NOT TARGET NCCL::nccl)
  add_library(NCCL::nccl UNKNOWN IMPORTED)
  set_target_properties(NCCL::nccl PROPERTIES
    IMPORTED_LOCATION ${NCCL_LIBRARY}
    INTERFACE_INCLUDE_DIRECTORIES ${NCCL_INCLUDE_DIR})
endif()
mark_as_advanced(NCCL_INCLUDE_DIR NCCL_LIBRARY)
