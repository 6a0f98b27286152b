# C5: standard accuracy and robust accuracy under PGD-50 on the whole model (RA), the experts with routing held
# (RA-E) and the router (RA-R), for P2's frozen random router and a learned one: means over seeds, 95% intervals.
set terminal pngcairo size 860,540 font ",11"
set output dir."/vulnerability.png"
set datafile separator ","
set title "C5: which part of a model-level top-1 MoE is vulnerable (L-inf eps 0.1, PGD-50)"
set ylabel "accuracy (fraction of test samples)"
set yrange [0:1]
set style data histograms
set style histogram errorbars gap 1 lw 1.5
set style fill solid 0.85 border -1
set boxwidth 0.9
set grid ytics
set key top right
plot dir."/vulnerability.csv" using 2:3:4:xtic(1) every ::1 lc rgb "#2ca02c" title "frozen router (P2's code)", \
     '' using 5:6:7 every ::1 lc rgb "#1f77b4" title "learned router"
