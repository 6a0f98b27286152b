# C5: standard accuracy and robust accuracy under attacks on the whole model, the experts (routing held)
# and the router.
set terminal pngcairo size 800,520 font ",11"
set output dir."/vulnerability.png"
set datafile separator ","
set title "C5: which part of the MoE is vulnerable (L-inf eps 0.03, PGD-10)"
set ylabel "accuracy (fraction of test samples)"
set yrange [0:1]
set style fill solid 0.85 border -1
set boxwidth 0.6
set grid ytics
unset key
plot dir."/vulnerability.csv" using 0:2:xtic(1) every ::1 with boxes lc rgb "#2ca02c"
