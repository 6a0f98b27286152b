# C2: per correctly classified test sample of the Fashion-MNIST MoE (E=8, k=2), the L2 distance between the outputs
# of its two selected experts against (left) the smallest L2 adversarial distance found and (right) a local
# Lipschitz lower bound. P1 expects robustness to suffer where the experts differ: distances fall, constants rise.
set terminal pngcairo size 1200,520 font ",11"
set output dir."/samples.png"
set datafile separator ","
set datafile missing "nan"
set multiplot layout 1,2 title "C2: robustness vs disagreement of the two selected experts (Fashion-MNIST MoE, E=8, k=2)"
set xlabel "||e_i(h) - e_j(h)||_2 of the top-2 experts (MoE-layer output units)"
set grid
set key top right
set ylabel "smallest L2 adversarial distance found (pixel units, inputs in [0,1])"
set title "attack distance (DeepFool, FMN)"
plot dir."/samples.csv" using 3:5 every ::1 with points pt 7 ps 0.6 lc rgb "#1f77b4" title "one test sample"
set ylabel "local L2 Lipschitz lower bound (logit units per pixel unit)"
set title "local Lipschitz estimate (largest gradient norm near x)"
plot dir."/samples.csv" using 3:4 every ::1 with points pt 7 ps 0.6 lc rgb "#d62728" title "one test sample"
unset multiplot
