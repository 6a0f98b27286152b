# C8: certified radii of the dual model F_D = (1 - alpha) F_S + alpha F_R against alpha, next to the distances the
# attacks reach (medians over correctly classified test samples; a certificate must stay below the attack).
set terminal pngcairo size 880,580 font ",11"
set output dir."/alpha.png"
set datafile separator ","
set title "C8: dual model, certified radius vs attack distance over alpha (Fashion-MNIST, L-inf)"
set xlabel "smoothing parameter alpha (weight of the robust MoE)"
set ylabel "median L-inf distance (pixel scale 0-1)"
set xrange [0:1]
set yrange [0:*]
set grid
set key top left opaque box
plot dir."/alpha.csv" using 1:3 every ::1 with linespoints lw 2 pt 7 lc rgb "#d62728" title "best verified attack (upper bound on d*)", \
     '' using 1:4 every ::1 with linespoints lw 2 pt 5 lc rgb "#2ca02c" title "best sound certificate", \
     '' using 1:5 every ::1 with linespoints lw 2 dt 2 pt 9 lc rgb "#9467bd" title "P2-form bound (reconstructed)"
