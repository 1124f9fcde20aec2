/* SPDX-License-Identifier: Apache-2.0 */
/* The conformance suite on the in-memory backend. Named stores
 * ("memory:NAME") are shared between handles, so the two-witness cases run
 * too. */
#define _POSIX_C_SOURCE 200809L
#include "conformance/conformance.h"

int main(void) {
  static logstate_conformance_target t = {
      .name = "memory",
      .open = logstate_conformance_open_url,
      .open_query = logstate_conformance_open_url_query,
      .ctx = "memory:conformance-%u",
      .shares_store = 1,
  };
  return logstate_conformance_run(&t);
}
