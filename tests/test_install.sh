#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs the build into a temporary prefix and builds consumers against
# it, as a downstream project would: with find_package(logstate CONFIG) and
# with pkg-config, shared and static, the examples with `cc -std=c11`, and a
# backend test that runs the installed conformance suite.
# Usage: test_install.sh BUILD_DIR SOURCE_DIR
set -u
build=$(realpath "$1")
src=$(realpath "$2")
work=$(mktemp -d /tmp/logstate-install-XXXXXX)
trap "rm -rf \"\$work\"" EXIT
prefix=$work/prefix
# shellcheck source=tests/check.sh
. "$(dirname "$0")/check.sh"
have() { grep -q "^#define LOGSTATE_HAVE_$1" "$build/include/logstate/features.h"; }

check "cmake --install" cmake --install "$build" --prefix "$prefix"
libdir=$(cd "$prefix" && ls -d lib* | head -n 1)
lib=$prefix/$libdir
version=$(sed -n 's/^#define LOGSTATE_VERSION_STRING "\(.*\)"/\1/p' "$build/include/logstate/features.h")
check "the shared library, with its SONAME" bash -c "objdump -p '$lib/liblogstate.so.$version' | grep -q 'SONAME.*liblogstate.so.${version%%.*}'"
check "the static library" test -f "$lib/liblogstate.a"
check "the headers" test -f "$prefix/include/logstate/logstate.h" -a -f "$prefix/include/logstate/features.h" -a -f "$prefix/include/logstate/sys/backend.h"
for part in REDIS:redis SQLITE:sqlite ASYNC:async; do
  if have "${part%%:*}"; then
    check "${part#*:}.h installed (built)" test -f "$prefix/include/logstate/${part#*:}.h"
  else
    check "${part#*:}.h not installed (not built)" test ! -e "$prefix/include/logstate/${part#*:}.h"
  fi
done
check "logstate.pc" test -f "$lib/pkgconfig/logstate.pc"
check "the CMake package" test -f "$lib/cmake/logstate/logstateConfig.cmake"
check "the docs" test -f "$prefix/share/doc/logstate/README.md" -a -f "$prefix/share/doc/logstate/LICENSE"
if [ -x "$build/logstate" ]; then
  check "the tool" "$prefix/bin/logstate" --version
  check "the man page" test -f "$prefix/share/man/man1/logstate.1"
fi
have REDIS && check "the Lua script" cmp "$src/lua/set.lua" "$prefix/share/logstate/lua/set.lua"
have REDIS && check "the configuration scripts" bash -c "cmp '$src/lua/config_add.lua' '$prefix/share/logstate/lua/config_add.lua' && cmp '$src/lua/config_change.lua' '$prefix/share/logstate/lua/config_change.lua'"
if ! have REDIS && ! have SQLITE && ! have ASYNC; then
  check "a memory-only library links no hiredis, libevent or sqlite" \
    bash -c "! ldd '$lib/liblogstate.so' | grep -E 'hiredis|event|sqlite'"
fi

export PKG_CONFIG_PATH=$lib/pkgconfig
export LD_LIBRARY_PATH=$lib
# --- pkg-config, the examples as C11 ---
check "pkg-config finds the installed prefix" bash -c "pkg-config --variable=includedir logstate | grep -q '^$prefix'"
check "basic.c, cc -std=c11, shared" bash -c "cc -std=c11 -Wall -Werror -o '$work/basic' '$src/examples/basic.c' \$(pkg-config --cflags --libs logstate) && '$work/basic'"
check "basic.c, cc -std=c11, static" bash -c "cc -std=c11 -Wall -Werror -o '$work/basic_static' '$src/examples/basic.c' \$(pkg-config --cflags logstate) '$lib/liblogstate.a' \$(pkg-config --static --libs logstate | sed 's/-llogstate//') && ! ldd '$work/basic_static' | grep -q liblogstate && '$work/basic_static'"
if have REDIS && have ASYNC; then
  check "async_witness.c, cc -std=c11" bash -c "cc -std=c11 -Wall -Werror -o '$work/aw' '$src/examples/async_witness.c' \$(pkg-config --cflags --libs logstate libevent) && '$work/aw' 2>/dev/null; test \$? -eq 2"
fi

# --- find_package, shared and static, and the conformance suite ---
mkdir -p "$work/consumer"
cat >"$work/consumer/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.18)
project(consumer C)
find_package(logstate CONFIG REQUIRED)
add_executable(basic_shared basic.c)
target_link_libraries(basic_shared PRIVATE logstate::logstate)
add_executable(basic_static basic.c)
target_link_libraries(basic_static PRIVATE logstate::logstate_static)
if(TARGET logstate::conformance)
  add_executable(my_backend_test my_backend_test.c)
  target_link_libraries(my_backend_test PRIVATE logstate::conformance)
endif()
CM
cp "$src/examples/basic.c" "$work/consumer/"
cat >"$work/consumer/my_backend_test.c" <<'C'
#include <logstate/conformance.h>
int main(void) {
  static logstate_conformance_target t = {
      .name = "installed", .open = logstate_conformance_open_url, .ctx = "memory:installed-%u", .shares_store = 1};
  return logstate_conformance_run(&t);
}
C
check "configure a find_package consumer" cmake -S "$work/consumer" -B "$work/consumer/build" -DCMAKE_PREFIX_PATH="$prefix"
check "build it" cmake --build "$work/consumer/build"
check "run it, shared" "$work/consumer/build/basic_shared"
check "it links the shared library" bash -c "ldd '$work/consumer/build/basic_shared' | grep -q '$lib/liblogstate.so'"
check "run it, static" "$work/consumer/build/basic_static"
if [ -x "$work/consumer/build/my_backend_test" ]; then
  check "the installed conformance suite runs" "$work/consumer/build/my_backend_test"
fi

finish test_install
