# C3: robust accuracy under L-inf PGD-40 against eps (mean over seeds), MoE vs the dense MLP of equal active compute
# stopped at the MoE's clean accuracy.
set terminal pngcairo size 800,560 font ",11"
set output dir."/curve.png"
set datafile separator ","
set title "C3: robust accuracy vs L-inf radius (PGD-40, mean over seeds), Fashion-MNIST"
set xlabel "L-inf radius eps (pixel units, inputs in [0,1])"
set ylabel "robust accuracy (fraction of test samples)"
set yrange [0:1]
set grid
set key top right
plot dir."/curve.csv" using 1:2 every ::1 with linespoints lw 2 pt 7 lc rgb "#1f77b4" title "MoE (E=8, k=2)", \
     '' using 1:3 every ::1 with linespoints lw 2 pt 5 lc rgb "#d62728" title "dense MLP, equal active compute, matched clean accuracy"
