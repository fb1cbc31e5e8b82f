"""Charts: a Report drawn as pixels with matplotlib's Agg backend (never pyplot).

    style.py       palette, sizes, text measurement, number formats
    primitives.py  styled axes, compound bars, labels, legends, header, "No data"
    fast.py        the speed-ups, and every use of matplotlib internals (CHARTS_FAST)
    canvas.py      render(chart, report, width, height): the entry point
    policy.py      prepare_process(): process-wide settings a server worker opts into
    <chart>.py     one module per chart: layout(report, width, height) -> a dataclass of
                   what to draw (no Figure needed), and draw(fig, layout)

A chart module is found by its name (canvas.chart_module), so nothing here lists them.
"""
