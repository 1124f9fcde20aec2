/* SPDX-License-Identifier: Apache-2.0 */
/* The in-memory backend's log configurations (memory_config.c); memory.c
 * keeps one per store and calls these from its methods. */
#ifndef LOGSTATE_MEMORY_CONFIG_H
#define LOGSTATE_MEMORY_CONFIG_H

#include "internal.h"

/* The events the audit ring keeps: the newest. */
#define LS_MEM_AUDIT 1024

typedef struct ls_mem_configs ls_mem_configs;

/* NULL when out of memory. */
ls_mem_configs *ls_mem_configs_new(void);
void ls_mem_configs_free(ls_mem_configs *c);
/* The backend methods' work (sys/backend.h says what each does). */
logstate_status ls_mem_config_add(ls_mem_configs *c, const logstate_log_entry *entries, size_t n,
                                  logstate_log_entry **existing);
logstate_status ls_mem_config_get(ls_mem_configs *c, const char *log_id, logstate_log_entry **out);
logstate_status ls_mem_config_list(ls_mem_configs *c, logstate_log_entry **out, size_t *out_n);
logstate_status ls_mem_config_change(ls_mem_configs *c, const logstate_config_event *ev, int *changed);
logstate_status ls_mem_config_history(ls_mem_configs *c, const char *log_id, size_t max, logstate_config_event **out,
                                      size_t *out_n);

#endif
