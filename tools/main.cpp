#include <iostream>

#include "cli.h"

int main(int argc, char** argv) {
  return psam::cli::run(std::vector<std::string>(argv + 1, argv + argc), {std::cout, std::cerr});
}
