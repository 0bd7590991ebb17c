# Dependency discovery. Torch comes from Debian's libtorch-dev by default or from a pip torch
# (pass -DCMAKE_PREFIX_PATH=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')).
# TorchConfig.cmake looks its libraries up with find_library, which searches the system paths
# before the torch folder: with Debian's libtorch-dev also installed, a pip torch's headers would
# be linked against Debian's libtorch.so. The torch folder of every Torch config in the prefix path
# is therefore searched first.
foreach(prefix IN LISTS CMAKE_PREFIX_PATH)
  if(EXISTS "${prefix}/Torch/TorchConfig.cmake")
    get_filename_component(torch_root "${prefix}/../.." ABSOLUTE)
    list(PREPEND CMAKE_PREFIX_PATH "${torch_root}")
  endif()
endforeach()
find_package(Torch REQUIRED)
foreach(lib IN ITEMS TORCH_LIBRARY C10_LIBRARY)
  if(${lib} AND NOT ${lib} MATCHES "^${TORCH_INSTALL_PREFIX}/")
    message(FATAL_ERROR "psam: ${lib} is ${${lib}}, outside the Torch found at "
                        "${TORCH_INSTALL_PREFIX}; clear the cache (rm -rf the build folder)")
  endif()
endforeach()
message(STATUS "psam: Torch ${Torch_VERSION} from ${TORCH_INSTALL_PREFIX}")
# A libtorch with CUDA (a pip torch): psam compiles its CUDA paths (NCCL group, CUDA generators,
# autocast on CUDA, `psam info --build`'s CUDA, cuDNN and NCCL versions).
if(TARGET torch_cuda)
  set(PSAM_TORCH_CUDA ON)
  message(STATUS "psam: CUDA paths on (CUDA ${CUDA_VERSION})")
endif()

find_package(fmt REQUIRED)

add_library(psam_torch INTERFACE)
target_link_libraries(psam_torch INTERFACE ${TORCH_LIBRARIES})
add_library(psam::torch ALIAS psam_torch)
if(PSAM_TORCH_CUDA)
  target_compile_definitions(psam_torch INTERFACE PSAM_TORCH_CUDA=1)
endif()
# A pip torch's libtorch.so exports copies of libstdc++ functions from its newer build toolchain
# (std::filesystem among them) that crash when psam calls them. The dynamic linker takes each
# symbol from the first library in the program's list, so libstdc++ goes first.
target_link_options(psam_torch INTERFACE "LINKER:--push-state,--no-as-needed,-lstdc++,--pop-state")
# A pip torch ships the headers of its own fmt (12.x) in its include folder, which the compiler
# searches before /usr/include, while psam and spdlog link Debian's fmt (9.x). A folder that holds
# only a link to the fmt psam links is searched before torch's, so every file sees one fmt.
if(EXISTS "${TORCH_INSTALL_PREFIX}/include/fmt")
  get_target_property(fmt_includes fmt::fmt INTERFACE_INCLUDE_DIRECTORIES)
  list(GET fmt_includes 0 fmt_include)
  set(fmt_shim "${CMAKE_BINARY_DIR}/psam_fmt_include")
  file(MAKE_DIRECTORY "${fmt_shim}")
  file(CREATE_LINK "${fmt_include}/fmt" "${fmt_shim}/fmt" SYMBOLIC)
  target_include_directories(psam_torch SYSTEM BEFORE INTERFACE "${fmt_shim}")
endif()

find_package(spdlog REQUIRED)
find_package(nlohmann_json 3 REQUIRED)
find_package(pugixml REQUIRED)
find_package(Threads REQUIRED)

# Libraries only the .cpp files of psam_core see; public headers stay free of them.
add_library(psam_private_deps INTERFACE)
target_link_libraries(psam_private_deps INTERFACE fmt::fmt spdlog::spdlog nlohmann_json::nlohmann_json
                                                  pugixml::pugixml Threads::Threads)
add_library(psam::private_deps ALIAS psam_private_deps)

if(PSAM_WITH_OPENCV)
  find_package(OpenCV REQUIRED COMPONENTS core imgproc imgcodecs)
  target_link_libraries(psam_private_deps INTERFACE ${OpenCV_LIBS})
  target_include_directories(psam_private_deps SYSTEM INTERFACE ${OpenCV_INCLUDE_DIRS})
  target_compile_definitions(psam_private_deps INTERFACE PSAM_HAVE_OPENCV=1)
endif()
if(PSAM_WITH_DCMTK)
  find_package(DCMTK REQUIRED CONFIG)
  target_link_libraries(psam_private_deps INTERFACE DCMTK::dcmdata DCMTK::dcmimgle DCMTK::dcmjpeg
                                                    DCMTK::dcmjpls DCMTK::oflog DCMTK::ofstd)
  target_compile_definitions(psam_private_deps INTERFACE PSAM_HAVE_DCMTK=1)
endif()

# The command-line layer alone reads YAML and parses arguments.
find_package(yaml-cpp REQUIRED)
find_package(CLI11 REQUIRED)
add_library(psam_cli_deps INTERFACE)
target_link_libraries(psam_cli_deps INTERFACE yaml-cpp CLI11::CLI11)
add_library(psam::cli_deps ALIAS psam_cli_deps)
