/* SPDX-License-Identifier: MIT */
/*
 * rpmap's main(). Everything else is in the static library rpmap_core
 * (rpmaplib.h), which rpmap-mpi links too: main.c parses the command line
 * and runs the engine.
 */
#include "rpmaplib.h"

int main(int argc, char **argv)
{
	return rpmap_main(argc, argv);
}
