#!/bin/sh
# make repro: the main job on the embedded default data (Fashion-MNIST).
# Trains the MoE (E=8, k=2) and its dense baseline at equal active compute, evaluates both on the clean
# test set and its out-of-distribution variants, and prints the comparison.
# Usage: experiments/repro.sh BUILD_DIR PROFILE   (PROFILE quick: 5 epochs; full: 20 epochs)
set -eu
build=$1
profile=${2:-quick}
case "$profile" in
    quick) epochs=5 ;;
    full) epochs=20 ;;
    *) echo "repro: unknown PROFILE '$profile' (expected quick or full)" >&2; exit 2 ;;
esac
out=out/repro-$profile
mkdir -p "$out"
moelab=$build/moelab
common="--data fashion-mnist --epochs $epochs --schedule cosine --seed 1 --experts 8 --top-k 2"
echo "== training the MoE (E=8, k=2) and the dense MLP of equal active compute, $epochs epochs each"
"$moelab" train $common --model moe --out "$out/moe"
"$moelab" train $common --model mlp --match compute --out "$out/dense"
echo "== clean and out-of-distribution evaluation"
"$moelab" eval --ckpt "$out/moe/model.ckpt" --out "$out/moe/eval.json"
"$moelab" eval --ckpt "$out/dense/model.ckpt" --out "$out/dense/eval.json"
/usr/bin/env python3 - "$out" <<'PY' 2>/dev/null || cat "$out/moe/eval.json" "$out/dense/eval.json"
import json, sys
out = sys.argv[1]
rows = []
for name in ("moe", "dense"):
    e = json.load(open(f"{out}/{name}/eval.json"))
    m = json.load(open(f"{out}/{name}/metrics.json"))
    rows.append((name, m["parameters"], e["clean_accuracy"], e["ood_mean_accuracy"]))
print(f"{'model':8} {'params':>9} {'clean acc':>10} {'mean OOD acc':>13}")
for r in rows:
    print(f"{r[0]:8} {r[1]:>9} {r[2]:>10.4f} {r[3]:>13.4f}")
PY
echo "results in $out/"
