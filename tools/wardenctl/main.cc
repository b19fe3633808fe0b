// wardenctl: the operator's command line for a Warden fleet. See cli.h.

#include <unistd.h>

#include <iostream>

#include "tools/wardenctl/cli.h"

int main(int argc, char** argv) {
  warden::wardenctl::Cli cli(warden::wardenctl::ProcessEnvironment());
  return cli.Run(argc, argv, std::cout, std::cerr, ::isatty(STDOUT_FILENO) == 1);
}
