# C7: standard and robust accuracy of the dual model F_D = (1 - alpha) F_S + alpha F_R against alpha (means over
# seeds), for the separately trained pair (plain F_S, RT-ER F_R) and JTDMoE (F_S trained jointly at each alpha),
# mixed on logits (P2's code, solid) and on probabilities (moelab's library dual model, thin).
set terminal pngcairo size 900,600 font ",11"
set output dir."/alpha.png"
set datafile separator ","
set datafile missing "?"
set title "C7: dual model accuracy vs alpha (Fashion-MNIST, L-inf eps 0.1, PGD-10)"
set xlabel "smoothing parameter alpha (weight of the robust MoE)"
set ylabel "accuracy (fraction of test samples)"
set xrange [0:1]
set yrange [0:1]
set grid
set key bottom center opaque box font ",9"
logit(c) = (strcol(2) eq "logits") ? column(c) : NaN
prob(c) = (strcol(2) eq "probabilities") ? column(c) : NaN
f = dir."/alpha.csv"
plot f using 1:(logit(3)) every ::1 with linespoints lw 2 pt 7 lc rgb "#1f77b4" title "SA, separate (logits)", \
     f using 1:(logit(4)) every ::1 with linespoints lw 2 pt 7 lc rgb "#d62728" title "RA, separate (logits)", \
     f using 1:(logit(5)) every ::1 with linespoints lw 2 dt 2 pt 5 lc rgb "#1f77b4" title "SA, JTDMoE (logits)", \
     f using 1:(logit(6)) every ::1 with linespoints lw 2 dt 2 pt 5 lc rgb "#d62728" title "RA, JTDMoE (logits)", \
     f using 1:(prob(5)) every ::1 with linespoints lw 1 dt 3 pt 4 lc rgb "#1f77b4" title "SA, JTDMoE (probabilities)", \
     f using 1:(prob(6)) every ::1 with linespoints lw 1 dt 3 pt 4 lc rgb "#d62728" title "RA, JTDMoE (probabilities)"
