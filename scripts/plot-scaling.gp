# scripts/plot-scaling.gp - one scaling plot of RESULTS.md (gnuplot 5).
# scripts/render-results calls it once per plot with -e variables:
#   datafile  data: one block per series (blocks separated by two blank
#             lines), columns: cores value low high
#   outfile   the PNG to write
#   kind      "speedup", "efficiency" or "time"
#   titles    series names, space-separated (one word each)
#   n         number of series
#   ttl       plot title
#   maxx      largest core count on the x axis
#   phys      physical cores of the machine (the ideal speedup stops there)
#   serial    serial median time in seconds (time plots; 0: none)
#   over      1 when some point has more workers than phys: the region
#             beyond phys is shaded and labelled oversubscribed
# Speedup and efficiency points carry error bars (low, high: their 95%
# intervals), time points bars from min to max.
set terminal pngcairo size 960,520 font ",10" noenhanced
set output outfile
set title ttl
set xlabel sprintf("workers (x threads per worker); the machine has %d physical cores", phys)
set grid
set key outside right top box
set logscale x 2
set xrange [0.8:maxx * 1.25]
set style line 99 lc rgb "black" dt 2 lw 1.5
set pointsize 1.2
ideal(x) = x < phys ? x : phys
if (over) {
  set object 1 rectangle from phys * 1.2, graph 0 to graph 1, graph 1 \
    behind fillcolor rgb "#e8e8e8" fillstyle solid 1.0 noborder
  set label 1 "oversubscribed" at phys * 1.25, graph 0.95 left textcolor rgb "#606060"
}
if (kind eq "speedup") {
  set ylabel "speedup over serial (same kernel)"
  set yrange [0:*]
  plot for [i=0:n-1] datafile index i using 1:2:3:4 with yerrorlines lw 2 \
         title word(titles, i + 1), \
       ideal(x) with lines ls 99 title sprintf("ideal (workers, up to the %d physical cores)", phys)
} else {
  if (kind eq "efficiency") {
    set ylabel "parallel efficiency (speedup / workers)"
    set yrange [0:1.25]
    plot for [i=0:n-1] datafile index i using 1:2:3:4 with yerrorlines lw 2 \
           title word(titles, i + 1), \
         (x <= phys ? 1 : phys / x) with lines ls 99 title "ideal"
  } else {
    set ylabel "median time [s] (bars: min to max)"
    set logscale y
    if (serial > 0) {
      plot for [i=0:n-1] datafile index i using 1:2:3:4 with yerrorlines lw 2 \
             title word(titles, i + 1), \
           serial with lines ls 99 title "serial"
    } else {
      plot for [i=0:n-1] datafile index i using 1:2:3:4 with yerrorlines lw 2 \
             title word(titles, i + 1)
    }
  }
}
