# C4: accuracy when a selected expert is replaced by the next-ranked one.
set terminal pngcairo size 800,520 font ",11"
set output dir."/swap.png"
set datafile separator ","
set title "C4: accuracy when a selected expert is swapped for the next-ranked one"
set ylabel "test accuracy (fraction)"
set yrange [0:1]
set style fill solid 0.85 border -1
set boxwidth 0.6
set grid ytics
unset key
plot dir."/swap.csv" using 0:2:xtic(1) every ::1 with boxes lc rgb "#1f77b4"
