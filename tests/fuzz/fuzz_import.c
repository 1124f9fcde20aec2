/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: the logstate tool's import reader (JSON Lines through
 * jansson, base64 fields, the whole-input checks), on arbitrary bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *copy = malloc(size ? size : 1);
  if (copy == NULL)
    return 0;
  memcpy(copy, data, size);
  int rc = cli_import_check("fuzz", copy, size);
  if (rc != EXIT_OK && rc != EXIT_USAGE && rc != EXIT_ERROR)
    abort();
  free(copy);
  return 0;
}
