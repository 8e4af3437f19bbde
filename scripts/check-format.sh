#!/usr/bin/env bash
# Formatting of every C++ file of popguard against .clang-format.
#
#   scripts/check-format.sh [SOURCE_DIR]         fails listing each file clang-format would change
#   scripts/check-format.sh --fix [SOURCE_DIR]   rewrites them in place (`make format`)
#
# The files are the repository's C++ sources (git ls-files when SOURCE_DIR is a
# git work tree, else a find over the same folders), never node_modules or a
# build directory. clang-format 14 is the reference (Debian 12's).
set -euo pipefail

fix=0
if [ "${1:-}" = "--fix" ]; then fix=1; shift; fi
src=$(cd "${1:-$(dirname "$0")/..}" && pwd)
cd "$src"

format=""
for candidate in clang-format-14 clang-format; do
  if command -v "$candidate" >/dev/null; then format=$candidate; break; fi
done
if [ -z "$format" ]; then
  echo "check-format: clang-format is not installed (scripts/install-deps.sh installs it)" >&2
  exit 1
fi
version=$("$format" --version | sed -n 's/.*version \([0-9]*\)\..*/\1/p')
if [ "$version" != 14 ]; then
  echo "check-format: note: $format is version $version; the reference is 14 (Debian 12)" >&2
fi

folders=(service storage tests bench fuzz)
if git rev-parse --is-inside-work-tree >/dev/null 2>&1 &&
   [ "$(git rev-parse --show-toplevel)" = "$src" ]; then
  mapfile -t files < <(git ls-files -- "${folders[@]/%//*.cc}" "${folders[@]/%//*.h}" |
                       grep -v '/node_modules/')
else
  mapfile -t files < <(find "${folders[@]}" -path '*/node_modules' -prune -o \
                         \( -name '*.cc' -o -name '*.h' \) -print | sort)
fi
if [ "${#files[@]}" -eq 0 ]; then
  echo "check-format: no C++ files found under ${folders[*]}" >&2
  exit 1
fi

if [ "$fix" = 1 ]; then
  "$format" -i --style=file "${files[@]}"
  echo "check-format: formatted ${#files[@]} files"
  exit 0
fi

# One clang-format process for all files: it reports each change as
# "FILE:LINE:COL: error: code should be clang-formatted".
mapfile -t bad < <("$format" --style=file --dry-run "${files[@]}" 2>&1 |
                   sed -n 's/^\(.*\):[0-9]*:[0-9]*: \(error\|warning\): code should be clang-formatted.*/\1/p' |
                   sort -u)
if [ "${#bad[@]}" -ne 0 ]; then
  echo "check-format: ${#bad[@]} of ${#files[@]} files are not formatted (run \`make format\`):"
  printf '  %s\n' "${bad[@]}"
  exit 1
fi
echo "check-format: ${#files[@]} files formatted"
