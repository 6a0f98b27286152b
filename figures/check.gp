# Certified radius (each method) against the best attack distance, per sample; the diagonal is where a
# certificate would be exact. Points above the diagonal are violations. Called by moelab check as
#   gnuplot -e "dir='DIR'" figures/check.gp
set terminal pngcairo size 900,700 font ",11"
set output dir."/check.png"
set datafile separator ","
set title "certified radius vs. distance found by attacks (per sample)"
set xlabel "best attack distance (input norm units)"
set ylabel "certified radius (input norm units)"
set key top left
set grid
set size square
stats dir."/check.csv" using 14 nooutput
mx = STATS_max
set xrange [0:mx*1.05]
set yrange [0:mx*1.05]
# Columns of check.csv: 4 lipschitz, 5 ibp, 6 naive, 7 crown, 8 exact-lipschitz (empty unless asked for),
# 9 crown-ibp, 10 alpha-crown, 11 exact, 14 attack.
plot dir."/check.csv" using 14:4 every ::1 with points pt 7 ps 0.8 lc rgb "#1f77b4" title "Lipschitz (routing-aware)", \
     '' using 14:5 every ::1 with points pt 5 ps 0.7 lc rgb "#2ca02c" title "IBP", \
     '' using 14:9 every ::1 with points pt 3 ps 0.8 lc rgb "#8c564b" title "CROWN-IBP", \
     '' using 14:7 every ::1 with points pt 9 ps 0.8 lc rgb "#9467bd" title "CROWN", \
     '' using 14:10 every ::1 with points pt 13 ps 0.8 lc rgb "#e377c2" title "alpha-CROWN", \
     '' using 14:8 every ::1 with points pt 4 ps 0.8 lc rgb "#ff7f0e" title "Lipschitz, exact local constants (MILP)", \
     '' using 14:6 every ::1 with points pt 2 ps 0.9 lc rgb "#d62728" title "naive fixed-routing (unsound)", \
     '' using 14:11 every ::1 with points pt 6 ps 1.0 lc rgb "#000000" title "exact (MILP)", \
     x with lines lc rgb "#777777" dt 2 title "certified = attack"
