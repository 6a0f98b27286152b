#!/bin/sh
# make repro: the papers' claims re-run at small scale on the embedded default data (Fashion-MNIST and
# synthetic clusters), with the report out/REPORT.md (see experiments/claims/claims.hpp).
# Usage: experiments/repro.sh BUILD_DIR PROFILE   (PROFILE quick or full)
set -eu
build=$1
profile=${2:-quick}
case "$profile" in
    quick|full) ;;
    *) echo "repro: unknown PROFILE '$profile' (expected quick or full)" >&2; exit 2 ;;
esac
out=out
mkdir -p "$out"
"$build/moelab" repro --profile "$profile" --out "$out"
# The hash of every result file, so that two runs can be compared (figures aside: PNG bytes may differ).
{
    echo "## Result files (SHA-256)"
    echo
    echo '```'
    (cd "$out" && find claims -type f \( -name '*.json' -o -name '*.csv' \) | LC_ALL=C sort | xargs sha256sum)
    echo '```'
} > "$out/REPORT.md.hashes.tmp"
cat "$out/REPORT.md" "$out/REPORT.md.hashes.tmp" > "$out/REPORT.md.tmp" && mv "$out/REPORT.md.tmp" "$out/REPORT.md"
rm -f "$out/REPORT.md.hashes.tmp"
echo "repro: report in $out/REPORT.md"
