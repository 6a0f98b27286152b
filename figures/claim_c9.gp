# C9: reliability score (mean of PGD-10 robust accuracy at L-inf eps 0.03 and mean OOD accuracy) of the MoE and the
# dense model of equal active compute under four recipes each: means over seeds with 95% intervals.
set terminal pngcairo size 1000,560 font ",10"
set output dir."/recipes.png"
set datafile separator ","
set title "C9: MoE vs dense reliability across training recipes (Fashion-MNIST)"
set ylabel "score = (robust + OOD accuracy) / 2"
set autoscale y
set style fill solid 0.85 border -1
set boxwidth 0.7
set grid ytics
set xtics rotate by -30 font ",9"
unset key
plot dir."/recipes.csv" using 0:3:(strcol(2) eq "moe" ? 0x1f77b4 : 0xd62728):xtic(1) every ::1 with boxes lc rgb variable, \
     '' using 0:3:4:5 every ::1 with yerrorbars lc rgb "black" pt 0
