# Dependency discovery. Torch comes from Debian's libtorch-dev by default or from a pip torch
# (pass -DCMAKE_PREFIX_PATH=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')).
find_package(Torch REQUIRED)
message(STATUS "psam: Torch ${Torch_VERSION} from ${TORCH_INSTALL_PREFIX}")

add_library(psam_torch INTERFACE)
target_link_libraries(psam_torch INTERFACE ${TORCH_LIBRARIES})
add_library(psam::torch ALIAS psam_torch)

find_package(fmt REQUIRED)
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
