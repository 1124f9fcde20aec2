#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Starts redis-server with docker/redis.conf and docker/users.acl, the
# passwords taken from the files named by WITNESS_PASSWORD_FILE,
# OPERATOR_PASSWORD_FILE and CONFIG_OPERATOR_PASSWORD_FILE (compose
# secrets), never from the image or the
# repository. The filled ACL file (without the comments, which Redis does
# not accept there) lives in a private directory: $ACL_DIR, or a new
# temporary one.
set -eu
acl_in=${ACL_TEMPLATE:-/etc/logstate/users.acl}
conf=${REDIS_CONF:-/etc/logstate/redis.conf}
witness=$(cat "${WITNESS_PASSWORD_FILE:?}")
operator=$(cat "${OPERATOR_PASSWORD_FILE:?}")
config_operator=$(cat "${CONFIG_OPERATOR_PASSWORD_FILE:?}")
case "$witness$operator$config_operator" in *[!A-Za-z0-9_.-]*|'') echo "passwords: letters, digits, _ . - only" >&2; exit 2 ;; esac
dir=${ACL_DIR:-$(mktemp -d)}
chmod 700 "$dir"
sed -e '/^#/d' -e '/^$/d' -e "s/@WITNESS_PASSWORD@/$witness/" -e "s/@OPERATOR_PASSWORD@/$operator/" \
  -e "s/@CONFIG_OPERATOR_PASSWORD@/$config_operator/" "$acl_in" >"$dir/users.acl"
exec redis-server "$conf" --aclfile "$dir/users.acl" "$@"
