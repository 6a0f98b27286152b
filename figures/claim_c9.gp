# C9: MoE (E=8, k=2) vs the dense MLP of equal active compute on Fashion-MNIST: robust accuracy (L-inf PGD-10,
# eps 0.03) and mean accuracy over the 12 OOD variants, against each training recipe and top-k at inference.
# Load balancing and top-k apply to the MoE only: the dense baseline is drawn flat there, as a reference.
set terminal pngcairo size 1200,900 font ",10"
set output dir."/sweeps.png"
set datafile separator ","
set multiplot layout 2,2 title "C9: MoE vs dense robustness across training recipes (Fashion-MNIST)"
set ylabel "accuracy (fraction of test samples)"
set autoscale y
set grid
set key bottom right opaque box font ",9"
panel(f) = dir."/sweep_".f.".csv"
set title "learning rate (Adam, cosine schedule)"
set xlabel "learning rate"
set logscale x
plot panel("lr") using 1:3 every ::1 with linespoints lw 2 pt 7 lc rgb "#1f77b4" title "MoE, adversarial", \
     '' using 1:4 every ::1 with linespoints lw 2 dt 2 pt 7 lc rgb "#1f77b4" title "MoE, OOD", \
     '' using 1:6 every ::1 with linespoints lw 2 pt 5 lc rgb "#d62728" title "dense, adversarial", \
     '' using 1:7 every ::1 with linespoints lw 2 dt 2 pt 5 lc rgb "#d62728" title "dense, OOD"
unset logscale x
set title "dropout"
set xlabel "dropout probability"
plot panel("dropout") using 1:3 every ::1 with linespoints lw 2 pt 7 lc rgb "#1f77b4" title "MoE, adversarial", \
     '' using 1:4 every ::1 with linespoints lw 2 dt 2 pt 7 lc rgb "#1f77b4" title "MoE, OOD", \
     '' using 1:6 every ::1 with linespoints lw 2 pt 5 lc rgb "#d62728" title "dense, adversarial", \
     '' using 1:7 every ::1 with linespoints lw 2 dt 2 pt 5 lc rgb "#d62728" title "dense, OOD"
set title "load-balancing weight (MoE only)"
set xlabel "load-balancing loss weight"
plot panel("lb_weight") using 1:3 every ::1 with linespoints lw 2 pt 7 lc rgb "#1f77b4" title "MoE, adversarial", \
     '' using 1:4 every ::1 with linespoints lw 2 dt 2 pt 7 lc rgb "#1f77b4" title "MoE, OOD", \
     '' using 1:6 every ::1 with lines lw 1 lc rgb "#d62728" title "dense reference, adversarial", \
     '' using 1:7 every ::1 with lines lw 1 dt 2 lc rgb "#d62728" title "dense reference, OOD"
set title "top-k at inference (trained with k = 2; MoE only)"
set xlabel "experts per input at inference (k)"
set logscale x 2
plot panel("top_k_inference") using 1:3 every ::1 with linespoints lw 2 pt 7 lc rgb "#1f77b4" title "MoE, adversarial", \
     '' using 1:4 every ::1 with linespoints lw 2 dt 2 pt 7 lc rgb "#1f77b4" title "MoE, OOD", \
     '' using 1:6 every ::1 with lines lw 1 lc rgb "#d62728" title "dense reference, adversarial", \
     '' using 1:7 every ::1 with lines lw 1 dt 2 lc rgb "#d62728" title "dense reference, OOD"
unset multiplot
