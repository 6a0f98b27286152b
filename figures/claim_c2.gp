# C2: per near-boundary test sample of the Fashion-MNIST MoE (E=8, k=2; every seed), the relative distance between
# the outputs of its two selected experts against the smallest L2 adversarial distance found. P1 expects
# robustness to suffer where the experts differ: distances fall as the spread grows.
set terminal pngcairo size 820,560 font ",11"
set output dir."/samples.png"
set datafile separator ","
set datafile missing "nan"
set title "C2: attack distance vs relative spread of the top-2 experts (near routing boundaries)"
set xlabel "||e_i(h) - e_j(h)|| / mean(||e_i(h)||, ||e_j(h)||)"
set ylabel "smallest L2 adversarial distance found (pixels in [0,1])"
set grid
set key top right
plot dir."/samples.csv" using 6:7 every ::1 with points pt 7 ps 0.6 lc rgb "#1f77b4" title "one test sample (all seeds)"
