# C8: P2's Equation (8) per sample, printed and sound readings, against the measured distance (exact minimal L-inf
# distance under top-1 routing, best verified attack on P2's mixture under soft routing). A point above the
# diagonal is a violation. Log axes: radii and distances span decades.
set terminal pngcairo size 880,620 font ",11"
set output dir."/radii.png"
set datafile separator ","
set title "C8: P2's Equation (8) radius vs measured distance (L-inf, per sample, all seeds)"
set xlabel "measured distance (exact where proven, else best attack)"
set ylabel "certified radius"
set logscale xy
set grid
set key top left opaque box
plot dir."/samples.csv" using ($15 > 0 && $6 > 0 ? $15 : 1/0):6 every ::1 with points pt 7 ps 0.6 lc rgb "#d62728" title "printed: margin / D", \
     '' using ($15 > 0 && $7 > 0 ? $15 : 1/0):7 every ::1 with points pt 5 ps 0.6 lc rgb "#2ca02c" title "sound: margin / (2D)", \
     x with lines lw 2 lc rgb "#444444" title "radius = distance"
