# C7: standard and robust accuracy of the dual model F_D = (1 - alpha) F_S + alpha F_R against alpha, for the
# separately trained pair (plain F_S, RT-ER F_R) and the JTDMoE pair (trained jointly at alpha = 0.5).
set terminal pngcairo size 880,580 font ",11"
set output dir."/alpha.png"
set datafile separator ","
set title "C7: dual model accuracy vs alpha (Fashion-MNIST, L-inf eps 0.1, PGD-10)"
set xlabel "smoothing parameter alpha (weight of the robust MoE)"
set ylabel "accuracy (fraction of test samples)"
set xrange [0:1]
set yrange [0:1]
set grid
set key bottom center opaque box
plot dir."/alpha.csv" using 1:2 every ::1 with linespoints lw 2 pt 7 lc rgb "#1f77b4" title "SA, separate training", \
     '' using 1:3 every ::1 with linespoints lw 2 pt 7 lc rgb "#d62728" title "RA, separate training", \
     '' using 1:4 every ::1 with linespoints lw 2 dt 2 pt 5 lc rgb "#1f77b4" title "SA, JTDMoE", \
     '' using 1:5 every ::1 with linespoints lw 2 dt 2 pt 5 lc rgb "#d62728" title "RA, JTDMoE"
