// The composition root's entry point: everything real is constructed in serve.cc and the
// mount_<module>.cc files.
#include "cli.h"

int main(int argc, char** argv) { return hp::cp::Main(argc, argv); }
