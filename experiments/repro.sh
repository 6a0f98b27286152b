#!/bin/sh
# make repro: the main job on the embedded default data. Usage: experiments/repro.sh BUILD_DIR PROFILE
set -eu
build=$1
profile=${2:-quick}
mkdir -p out
"$build/moelab" info
echo "repro ($profile): training runs are added by the moe issue; see README.md"
