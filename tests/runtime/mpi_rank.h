/* What the MPI test programs share: MPI started with MPI_THREAD_MULTIPLE (tensortap's group rounds
 * call MPI from its collector thread), this process's rank and the world size, and a check of a
 * tensortap call that names the rank and aborts the whole job when it fails, so no other rank
 * waits forever in a collective for it. */
#pragma once

#include <mpi.h>
#include <stdio.h>

#include "ttap/ttap.h"

static int g_rank;

#define CHECK(call)                                                                     \
  do {                                                                                  \
    ttap_status st_ = (call);                                                           \
    if (st_ != TTAP_OK) {                                                               \
      fprintf(stderr, "rank %d: %s: %s (%s)\n", g_rank, #call, ttap_status_string(st_), \
              ttap_last_error());                                                       \
      MPI_Abort(MPI_COMM_WORLD, 2);                                                     \
    }                                                                                   \
  } while (0)

/* Starts MPI, sets g_rank and returns the world size. */
static int start_mpi_ranks(int *argc, char ***argv) {
  int provided = 0, world = 1;
  MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &provided);
  MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  return world;
}
