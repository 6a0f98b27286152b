# Bar chart of out/bench.csv: median time per workload and thread count, moelab vs raw GEMM vs PyTorch.
# Called by moelab_bench as: gnuplot -c figures/bench.gp out/bench.csv out/bench.png (the paths as arguments,
# never inside a command string); gnuplot -e "csv='...'; png='...'" figures/bench.gp works too.
if (ARGC >= 2) { csv = ARG1; png = ARG2 }
set terminal pngcairo size 1000,560 font ",11"
set output png
set datafile separator ","
set title "moelab vs PyTorch float64 vs the raw GEMM floor (median time, lower is better)"
set ylabel "time relative to raw GEMM (x)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set key top left
set grid ytics
set yrange [0:*]
set xtics rotate by 0
plot csv using (1):xtic(sprintf("%s, %s thr", strcol(1), strcol(2))) every ::1 title "raw GEMM (floor)" lc rgb "#999999", \
     '' using 6 every ::1 title "moelab" lc rgb "#1f77b4", \
     '' using ($5/$4) every ::1 title "PyTorch float64" lc rgb "#d62728"
