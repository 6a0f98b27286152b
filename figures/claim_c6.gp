# C6: standard accuracy, robust accuracy (PGD-20 on the whole MoE) and RA-E (PGD-20 on the experts, routing held) of
# the same model-level MoE trained plainly, with PGD adversarial training and with RT-ER (P2).
set terminal pngcairo size 860,540 font ",11"
set output dir."/accuracy.png"
set datafile separator ","
set title "C6: RT-ER vs PGD adversarial training (Fashion-MNIST, MoE E=4 top-1, L-inf eps 0.1)"
set ylabel "accuracy (fraction of test samples)"
set xlabel "training recipe"
set yrange [0:1]
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set grid ytics
set key top right
plot dir."/accuracy.csv" using 2:xtic(1) every ::1 lc rgb "#1f77b4" title "SA (clean)", \
     '' using 3 every ::1 lc rgb "#d62728" title "RA (PGD-20, whole model)", \
     '' using 4 every ::1 lc rgb "#2ca02c" title "RA-E (PGD-20, experts only)"
