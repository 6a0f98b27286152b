# C1: Lipschitz constant of MoEs fitted to clustered data against the number of experts E (top-1, equal
# active compute; E = 1 is the dense model), next to P1's sqrt(n d / p) law scaled to agree at E = 1.
set terminal pngcairo size 820,560 font ",11"
set output dir."/lipschitz.png"
set datafile separator ","
set title "C1: Lipschitz constant vs number of experts (clusters K=8, d=16, top-1)"
set xlabel "number of experts E (active compute fixed)"
set ylabel "L2 Lipschitz constant of a class-score difference"
set logscale x 2
set logscale y
set yrange [0.5:*]
set grid
set key bottom left opaque box
plot dir."/lipschitz.csv" using 1:3 every ::1 with linespoints lw 2 pt 7 lc rgb "#1f77b4" title "measured (largest gradient norm near the data)", \
     '' using 1:5 every ::1 with lines lw 2 dt 2 lc rgb "#7f7f7f" title "Bubeck-Sellke law sqrt(nd/p), scaled at E=1", \
     '' using 1:4 every ::1 with linespoints lw 1 pt 4 lc rgb "#d62728" title "upper bound, routing held fixed (not sound across routes)"
