# C6: standard accuracy and robust accuracy (PGD-50 on the whole MoE) after PGD adversarial training and after
# RT-ER at each beta (P2): means over seeds with 95% intervals.
set terminal pngcairo size 860,540 font ",11"
set output dir."/accuracy.png"
set datafile separator ","
set title "C6: RT-ER vs PGD adversarial training (Fashion-MNIST, MoE E=4 top-1, L-inf eps 0.1)"
set ylabel "accuracy (fraction of test samples)"
set xlabel "training recipe"
set yrange [0:1]
set style data histograms
set style histogram errorbars gap 1 lw 1.5
set style fill solid 0.85 border -1
set boxwidth 0.9
set grid ytics
set key top right
plot dir."/accuracy.csv" using 2:3:4:xtic(1) every ::1 lc rgb "#1f77b4" title "SA (clean)", \
     '' using 5:6:7 every ::1 lc rgb "#d62728" title "RA (PGD-50, whole model)"
