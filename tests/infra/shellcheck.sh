#!/usr/bin/env bash
# tests/infra/shellcheck.sh - shellcheck every shell script of the repository: files under
# scripts/, sam/, tests/, bench/, learn/ and .ci/ whose first line names bash or sh (build folders,
# node_modules and third_party excluded). The workflows' `run:` blocks call these scripts.
# Exit 1 on any finding (severity style and up).
set -euo pipefail
root=${MB_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$root"
command -v shellcheck >/dev/null || { echo "shellcheck is missing (scripts/deps installs it)" >&2; exit 1; }
files=()
while IFS= read -r -d '' f; do
  head -n 1 "$f" | grep -Eq '^#!.*\b(ba)?sh\b' && files+=("$f")
done < <(find scripts sam tests bench learn .ci -type f \
  -not -path '*/node_modules/*' -not -path '*/build*/*' -not -path '*/third_party/*' -print0 2>/dev/null)
[ "${#files[@]}" -gt 10 ] || { echo "shellcheck: found only ${#files[@]} scripts; the search is broken" >&2; exit 1; }
shellcheck --severity=style --external-sources "${files[@]}"
echo "shellcheck: ${#files[@]} scripts, no findings"
