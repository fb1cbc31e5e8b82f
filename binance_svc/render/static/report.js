// The report page, interactive and live. A file, not an inline script: the pages work under
// Content-Security-Policy: default-src 'self'. Everything it needs comes from the page's data
// attributes (#live: the analysis, the URL of the report's JSON and of the page itself).
//
// 1. Draws the chart from the report's JSON (the same URL with format=json), picked by the
//    shape of its main table, not by the analysis' name (a new analysis with a known shape
//    gets its chart, and no module outside an analysis' own names it): candles with
//    indicators, change bars per symbol and an order book's depth with TradingView
//    Lightweight Charts (vendor/, loaded only by the pages that use it), a symmetric matrix as
//    a table of coloured cells; then hides the PNG, which stays the chart of a page without
//    JavaScript (or when this fails).
// 2. Keeps the page current: re-fetches the JSON with If-None-Match when its Cache-Control
//    max-age runs out (a 304 changes nothing), redraws the chart and swaps in the summary,
//    banners and tables of a fresh copy of the page on a 200; waits while the tab is hidden
//    and backs off on errors.
// 3. Where the form has an indicators field, offers the indicator catalogue as suggestions for the indicators
//    field (the plain text field works without it).
"use strict";
(function () {
  var live = document.getElementById("live");
  if (!live || typeof window.fetch !== "function") {
    return;
  }
  var script = document.currentScript;
  var STATIC = script ? script.src.replace(/\/report\.js(\?.*)?$/, "") : "/static";
  var LWC_URL = STATIC + "/vendor/lightweight-charts.standalone.production.js";
  var CATALOGUE_URL = "/api/v1/indicators?format=json";
  var jsonUrl = live.getAttribute("data-json");
  var pageUrl = live.getAttribute("data-page");
  var analysis = live.getAttribute("data-analysis");
  var figure = document.getElementById("chart");

  var COLORS = ["#1f5fbf", "#e8710a", "#7b3fb5", "#0f9d58", "#c2185b", "#00838f", "#8d6e63",
                "#5c6bc0", "#9e9d24", "#d81b60", "#546e7a", "#f4511e"];
  var UP = "#127a3e", DOWN = "#b42318", MUTED = "#5d6b7c", LINE = "#dde3ea";

  // ---- numbers, as the server writes them (render/html.py) ------------------------------
  function decimalsFor(m) {
    if (!m || !isFinite(m) || m >= 10) { return 2; }
    if (m >= 1) { return 4; }
    return Math.min(10, 3 - Math.floor(Math.log10(m)));
  }
  function fmt(v, decimals) {
    if (v === null || v === undefined || (typeof v === "number" && !isFinite(v))) { return "\u2014"; }
    if (typeof v !== "number") { return String(v); }
    var d = decimals === undefined ? decimalsFor(Math.abs(v)) : decimals;
    return v.toLocaleString("en-US", {minimumFractionDigits: d, maximumFractionDigits: d});
  }
  function compact(v) {
    if (v === null || v === undefined) { return "\u2014"; }
    var a = Math.abs(v);
    var units = [[1e12, "T"], [1e9, "B"], [1e6, "M"], [1e3, "k"]];
    for (var i = 0; i < units.length; i++) {
      if (a >= units[i][0]) { return (v / units[i][0]).toFixed(a / units[i][0] >= 100 ? 0 : 1) + units[i][1]; }
    }
    return fmt(v);
  }
  function seconds(iso) { return Math.floor(Date.parse(iso) / 1000); }
  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text !== undefined) { node.textContent = text; }
    return node;
  }
  function svgEl(tag, attrs) {
    var node = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (var k in attrs) { node.setAttribute(k, attrs[k]); }
    return node;
  }

  // ---- Lightweight Charts, loaded on demand ----------------------------------------------
  var lwcPromise = null;
  function loadLwc() {
    if (window.LightweightCharts) { return Promise.resolve(window.LightweightCharts); }
    if (!lwcPromise) {
      lwcPromise = new Promise(function (resolve, reject) {
        var s = document.createElement("script");
        s.src = LWC_URL;
        s.onload = function () { resolve(window.LightweightCharts); };
        s.onerror = function () { reject(new Error("could not load " + LWC_URL)); };
        document.head.appendChild(s);
      });
    }
    return lwcPromise;
  }
  function baseOptions(extra) {
    var o = {
      autoSize: true,
      layout: {background: {color: "#ffffff"}, textColor: "#1b2430", fontSize: 12,
               // Its logo injects a <style> element, which the CSP refuses; the page shows the
               // licence's attribution under the chart instead (vendor/VENDOR.md).
               attributionLogo: false,
               panes: {separatorColor: LINE, separatorHoverColor: "#c9d2dc"}},
      grid: {vertLines: {color: "#eef1f5"}, horzLines: {color: "#eef1f5"}},
      rightPriceScale: {borderColor: LINE},
      timeScale: {borderColor: LINE},
      crosshair: {mode: 0}
    };
    for (var k in extra) { o[k] = extra[k]; }
    return o;
  }

  // ---- the legend: values under the crosshair --------------------------------------------
  function legend(box) {
    var node = el("div", "ichart-legend");
    box.appendChild(node);
    return {
      show: function (title, items) {
        node.textContent = "";
        if (title) { node.appendChild(el("span", "legend-title", title)); }
        items.forEach(function (it) {
          var span = el("span", "legend-item");
          if (it.color) {
            var sw = el("i", "swatch");
            sw.style.backgroundColor = it.color;
            span.appendChild(sw);
          }
          span.appendChild(document.createTextNode(it.label + " "));
          span.appendChild(el("b", it.tone || "", it.value));
          node.appendChild(span);
        });
      }
    };
  }

  // ---- candles: volume, overlays, one pane per indicator family ---------------------------
  var CANDLE = ["open_time", "close_time", "open", "high", "low", "close", "volume",
                "quote_volume", "trades"];
  // The default set (no indicators=) has its own column names (docs/api.md).
  var DEFAULT_FAMILIES = {
    sma_20: "overlay", sma_50: "overlay", ema_12: "overlay", ema_26: "overlay",
    bb_middle: "overlay", bb_upper: "overlay", bb_lower: "overlay", rsi_14: "oscillator",
    macd: "macd", macd_signal: "macd", macd_hist: "macd", bb_percent_b: "bb_percent_b",
    bb_bandwidth: "bb_bandwidth"
  };
  var PANE_ORDER = ["oscillator", "macd", "adx", "volume"];
  // Levels drawn across an oscillator's pane, by indicator (the conventions of the signals).
  var LEVELS = {rsi: [70, 30], stoch: [80, 20], stochrsi: [80, 20], mfi: [80, 20],
                willr: [-20, -80], cci: [100, -100], adx: [25], ultosc: [70, 30]};

  // column -> {group, indicator}; group "overlay" is the price pane.
  function groupColumns(report, catalogue) {
    var cols = report.columns.filter(function (c) { return CANDLE.indexOf(c) < 0; });
    var items = report.params && report.params.indicators;
    var out = {};
    if (items && items.length && catalogue) {
      var family = {}, outputs = {};
      catalogue.rows.forEach(function (r) { family[r.name] = r.family; });
      catalogue.tables.outputs.rows.forEach(function (o) {
        (outputs[o.indicator] = outputs[o.indicator] || []).push(o.output);
      });
      // The columns follow the items in the order asked, one per output (docs/api.md).
      var i = 0;
      items.forEach(function (item) {
        var name = String(item).split(":")[0];
        var n = (outputs[name] || [null]).length;
        var fam = family[name] || "other";
        for (var k = 0; k < n && i < cols.length; k++, i++) {
          out[cols[i]] = {group: fam === "other" ? "other:" + item : fam, indicator: name};
        }
      });
    }
    cols.forEach(function (c) {
      if (!out[c]) {
        var fam = DEFAULT_FAMILIES[c] || "other:" + c;
        out[c] = {group: fam, indicator: c.split("_")[0]};
      }
    });
    return {columns: cols, of: out};
  }

  // A pane's scale: volumes compact (1.2M), others with the decimals their typical value needs.
  function columnFormat(rows, column, group) {
    if (group === "volume") { return {type: "volume"}; }
    var values = rows.map(function (r) { return Math.abs(r[column]); })
      .filter(function (v) { return v > 0 && isFinite(v); }).sort(function (a, b) { return a - b; });
    var d = Math.min(6, decimalsFor(values.length ? values[values.length >> 1] : 0));
    return {type: "price", precision: d, minMove: Math.pow(10, -d)};
  }

  function drawCandles(LWC, box, report, catalogue) {
    var rows = report.rows;
    var closes = rows.map(function (r) { return r.close; }).filter(function (v) { return v !== null; });
    var sorted = closes.slice().sort(function (a, b) { return a - b; });
    var precision = decimalsFor(sorted.length ? Math.abs(sorted[sorted.length >> 1]) : 0);
    var priceFormat = {type: "price", precision: precision, minMove: Math.pow(10, -precision)};
    var grouping = groupColumns(report, catalogue);
    var panes = ["overlay"];
    grouping.columns.forEach(function (c) {
      var g = grouping.of[c].group;
      if (panes.indexOf(g) < 0) { panes.push(g); }
    });
    panes = ["overlay"].concat(panes.slice(1).sort(function (a, b) {
      var ia = PANE_ORDER.indexOf(a), ib = PANE_ORDER.indexOf(b);
      return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib);
    }));
    var lg = legend(box);
    var holder = el("div", "ichart-canvas");
    var narrow = box.clientWidth < 600;
    holder.style.height = ((narrow ? 300 : 420) + (panes.length - 1) * (narrow ? 90 : 110)) + "px";
    box.appendChild(holder);
    var chart = LWC.createChart(holder, baseOptions({
      timeScale: {borderColor: LINE, timeVisible: true, secondsVisible: report.params.interval === "1s"},
      rightPriceScale: {borderColor: LINE, minimumWidth: 72}
    }));
    var candles = chart.addSeries(LWC.CandlestickSeries, {
      upColor: UP, downColor: DOWN, borderUpColor: UP, borderDownColor: DOWN,
      wickUpColor: UP, wickDownColor: DOWN, priceFormat: priceFormat});
    var volume = chart.addSeries(LWC.HistogramSeries, {
      priceFormat: {type: "volume"}, priceScaleId: "vol", lastValueVisible: false,
      priceLineVisible: false});
    chart.priceScale("vol").applyOptions({scaleMargins: {top: 0.82, bottom: 0}});
    candles.priceScale().applyOptions({scaleMargins: {top: 0.06, bottom: 0.2}});
    var lines = [];
    var color = 0;
    grouping.columns.forEach(function (c) {
      var info = grouping.of[c];
      var pane = panes.indexOf(info.group);
      var isHist = /hist/.test(c);
      var opts = {color: COLORS[color++ % COLORS.length], lineWidth: 1.5, title: "",
                  lastValueVisible: false, priceLineVisible: false,
                  priceFormat: pane === 0 ? priceFormat : columnFormat(rows, c, info.group)};
      var series;
      if (isHist) {
        series = chart.addSeries(LWC.HistogramSeries, opts, pane);
      } else {
        if (info.indicator === "sar") {
          opts.lineVisible = false;
          opts.pointMarkersVisible = true;
          opts.pointMarkersRadius = 1.5;
        } else if (/^bb_(upper|lower)/.test(c)) {
          opts.lineStyle = 2;
        }
        series = chart.addSeries(LWC.LineSeries, opts, pane);
      }
      (LEVELS[info.indicator] || []).forEach(function (level) {
        series.createPriceLine({price: level, color: "#9aa5b1", lineWidth: 1, lineStyle: 2,
                                axisLabelVisible: false, title: ""});
      });
      lines.push({column: c, series: series, color: opts.color, hist: isHist});
    });
    var paneList = chart.panes();
    if (paneList.length) {
      paneList[0].setStretchFactor(narrow ? 2.6 : 3.4);
      for (var p = 1; p < paneList.length; p++) { paneList[p].setStretchFactor(1); }
    }

    var byTime = {};
    function setData(report) {
      var rows = report.rows;
      byTime = {};
      var cdata = [], vdata = [];
      rows.forEach(function (r) {
        var t = seconds(r.open_time);
        byTime[t] = r;
        if (r.open === null || r.close === null) { cdata.push({time: t}); return; }
        cdata.push({time: t, open: r.open, high: r.high, low: r.low, close: r.close});
        vdata.push({time: t, value: r.volume || 0,
                    color: r.close >= r.open ? "rgba(18,122,62,0.35)" : "rgba(180,35,24,0.35)"});
      });
      candles.setData(cdata);
      volume.setData(vdata);
      lines.forEach(function (l) {
        l.series.setData(rows.map(function (r) {
          var t = seconds(r.open_time), v = r[l.column];
          if (v === null || v === undefined) { return {time: t}; }
          return l.hist ? {time: t, value: v, color: v >= 0 ? "rgba(18,122,62,0.6)" : "rgba(180,35,24,0.6)"}
                        : {time: t, value: v};
        }));
      });
    }
    function show(row) {
      if (!row) { lg.show("", []); return; }
      var up = row.close >= row.open;
      var items = [
        {label: "O", value: fmt(row.open, precision)}, {label: "H", value: fmt(row.high, precision)},
        {label: "L", value: fmt(row.low, precision)},
        {label: "C", value: fmt(row.close, precision), tone: up ? "tone-pos" : "tone-neg"},
        {label: "Vol", value: compact(row.volume)}];
      lines.forEach(function (l) {
        var v = row[l.column];
        items.push({label: l.column, color: l.color,
                    value: v === null || v === undefined ? "\u2014" : fmt(v, Math.abs(v) >= 10 ? 2 : decimalsFor(Math.abs(v)))});
      });
      lg.show(row.open_time.replace("T", " ").replace(/:00(\.000)?Z$/, "").replace(/Z$/, "") + " UTC", items);
    }
    setData(report);
    chart.timeScale().fitContent();
    var last = report.rows[report.rows.length - 1];
    show(last);
    chart.subscribeCrosshairMove(function (param) {
      show(param.time !== undefined && byTime[param.time] ? byTime[param.time] : last);
    });
    return {
      chart: chart,
      update: function (next) {
        if (next.columns.join() !== report.columns.join()) { return false; }
        report = next;
        setData(next);
        last = next.rows[next.rows.length - 1];
        show(last);
        return true;
      }
    };
  }

  // ---- change bars: the 24 h change of each symbol ----------------------------------------
  // Lightweight Charts has a time axis: bar i sits on day i, and the axis and crosshair show
  // the symbol instead of that day.
  var DAY = 86400;
  function drawBars(LWC, box, report) {
    var lg = legend(box);
    var holder = el("div", "ichart-canvas");
    holder.style.height = (box.clientWidth < 600 ? 280 : 360) + "px";
    box.appendChild(holder);
    var symbols = [];
    function label(t) { return symbols[Math.round(t / DAY)] || ""; }
    var chart = LWC.createChart(holder, baseOptions({
      handleScroll: false, handleScale: false,
      localization: {timeFormatter: label, priceFormatter: function (v) { return v.toFixed(2) + " %"; }},
      timeScale: {borderColor: LINE, tickMarkFormatter: label, fixLeftEdge: true, fixRightEdge: true,
                  allowBoldLabels: false}
    }));
    var bars = chart.addSeries(LWC.HistogramSeries, {
      priceFormat: {type: "price", precision: 2, minMove: 0.01}, base: 0,
      priceLineVisible: false, lastValueVisible: false});
    bars.createPriceLine({price: 2, color: UP, lineStyle: 2, lineWidth: 1, axisLabelVisible: false, title: "+2 %"});
    bars.createPriceLine({price: -2, color: DOWN, lineStyle: 2, lineWidth: 1, axisLabelVisible: false, title: "\u22122 %"});
    var rows = [];
    function setData(report) {
      rows = report.rows;
      symbols = rows.map(function (r) { return r.symbol; });
      bars.setData(rows.map(function (r, i) {
        var v = r.price_change_pct;
        return v === null ? {time: i * DAY}
          : {time: i * DAY, value: v, color: v >= 2 ? UP : v <= -2 ? DOWN : v >= 0 ? "#6fae8a" : "#d98880"};
      }));
      chart.timeScale().fitContent();
    }
    function show(r) {
      if (!r) { lg.show("24 h change", []); return; }
      lg.show(r.symbol, [
        {label: "change", value: fmt(r.price_change_pct, 2) + " %",
         tone: r.price_change_pct > 0 ? "tone-pos" : r.price_change_pct < 0 ? "tone-neg" : ""},
        {label: "last", value: fmt(r.last_price)},
        {label: "range", value: fmt(r.range_pct, 2) + " %"},
        {label: "quote volume", value: compact(r.quote_volume)},
        {label: "sentiment", value: r.sentiment || "\u2014"}]);
    }
    setData(report);
    show(null);
    chart.subscribeCrosshairMove(function (param) {
      show(param.time !== undefined ? rows[Math.round(param.time / DAY)] : null);
    });
    return {chart: chart, update: function (next) { report = next; setData(next); show(null); return true; }};
  }

  // ---- an order book: cumulative depth and the slippage points ----------------------------
  function drawDepth(LWC, box, report) {
    var lg = legend(box);
    var holder = el("div", "ichart-canvas");
    holder.style.height = (box.clientWidth < 600 ? 260 : 340) + "px";
    box.appendChild(holder);
    var prices = report.rows.map(function (r) { return r.price; });
    var precision = decimalsFor(prices.length ? Math.abs(prices[0]) : 0);
    var chart = LWC.createOptionsChart(holder, baseOptions({
      localization: {precision: precision, priceFormatter: compact},
      timeScale: {borderColor: LINE, fixLeftEdge: true, fixRightEdge: true, allowBoldLabels: false}
    }));
    var bids = chart.addSeries(LWC.AreaSeries, {
      lineColor: UP, topColor: "rgba(18,122,62,0.35)", bottomColor: "rgba(18,122,62,0.05)",
      lineWidth: 2, lineType: 1, priceLineVisible: false, lastValueVisible: false,
      priceFormat: {type: "volume"}});
    var asks = chart.addSeries(LWC.AreaSeries, {
      lineColor: DOWN, topColor: "rgba(180,35,24,0.35)", bottomColor: "rgba(180,35,24,0.05)",
      lineWidth: 2, lineType: 1, priceLineVisible: false, lastValueVisible: false,
      priceFormat: {type: "volume"}});
    var slip = el("div", "slippage");
    box.appendChild(slip);
    var byPrice = {};
    function side(rows, name) {
      return rows.filter(function (r) { return r.side === name && r.price !== null; })
        .sort(function (a, b) { return a.price - b.price; })
        .filter(function (r, i, a) { return i === 0 || r.price > a[i - 1].price; });
    }
    function setData(report) {
      byPrice = {};
      var b = side(report.rows, "bid"), a = side(report.rows, "ask");
      b.concat(a).forEach(function (r) { byPrice[r.price] = r; });
      bids.setData(b.map(function (r) { return {time: r.price, value: r.cum_notional}; }));
      asks.setData(a.map(function (r) { return {time: r.price, value: r.cum_notional}; }));
      chart.timeScale().fitContent();
      drawSlippage(slip, report.summary && report.summary.slippage || []);
    }
    function show(r) {
      var s = report.summary || {};
      if (!r) {
        lg.show("Depth", [{label: "mid", value: fmt(s.mid)}, {label: "spread", value: fmt(s.spread_bps, 2) + " bps"}]);
        return;
      }
      lg.show((r.side === "bid" ? "Bid " : "Ask ") + fmt(r.price, precision), [
        {label: "cumulative", value: compact(r.cum_notional)},
        {label: "quantity", value: fmt(r.cum_quantity)},
        {label: "from mid", value: fmt(r.distance_bps, 2) + " bps", tone: r.side === "bid" ? "tone-pos" : "tone-neg"}]);
    }
    setData(report);
    show(null);
    chart.subscribeCrosshairMove(function (param) {
      show(param.time !== undefined ? byPrice[param.time] : null);
    });
    return {chart: chart, update: function (next) { report = next; setData(next); show(null); return true; }};
  }

  // Impact in bps against the notional spent (log scale), buy and sell; hollow = not filled.
  function drawSlippage(box, points) {
    box.textContent = "";
    if (!points.length) { return; }
    box.appendChild(el("div", "slippage-title", "Slippage: price impact of a market order"));
    // Drawn at the box's own width in pixels, so its text keeps its size on a phone.
    var W = Math.max(280, Math.min(760, box.clientWidth || 640)), H = 180, L = 48, R = 16, T = 12, B = 34;
    var svg = svgEl("svg", {viewBox: "0 0 " + W + " " + H, width: W, height: H, role: "img",
                            "aria-label": "Slippage by notional"});
    var xs = points.map(function (p) { return Math.log10(p.notional); });
    var ys = points.map(function (p) { return p.impact_bps || 0; });
    var x0 = Math.min.apply(null, xs) - 0.3, x1 = Math.max.apply(null, xs) + 0.3;
    var y1 = Math.max.apply(null, ys.concat([0.01])) * 1.15;
    function X(v) { return L + (v - x0) / (x1 - x0) * (W - L - R); }
    function Y(v) { return H - B - v / y1 * (H - T - B); }
    for (var i = 0; i <= 4; i++) {
      var v = y1 * i / 4;
      svg.appendChild(svgEl("line", {x1: L, x2: W - R, y1: Y(v), y2: Y(v), stroke: "#eef1f5"}));
      var t = svgEl("text", {x: L - 6, y: Y(v) + 4, "text-anchor": "end", "font-size": 11, fill: MUTED});
      t.textContent = v.toFixed(y1 < 2 ? 2 : y1 < 20 ? 1 : 0);
      svg.appendChild(t);
    }
    var yl = svgEl("text", {x: 12, y: T + (H - T - B) / 2, "font-size": 11, fill: MUTED,
                            transform: "rotate(-90 12 " + (T + (H - T - B) / 2) + ")", "text-anchor": "middle"});
    yl.textContent = "bps";
    svg.appendChild(yl);
    var seen = {};
    points.forEach(function (p) {
      if (seen[p.notional]) { return; }
      seen[p.notional] = 1;
      var tx = svgEl("text", {x: X(Math.log10(p.notional)), y: H - 12, "text-anchor": "middle",
                              "font-size": 11, fill: MUTED});
      tx.textContent = compact(p.notional);
      svg.appendChild(tx);
    });
    ["sell", "buy"].forEach(function (sideName) {
      var pts = points.filter(function (p) { return p.side === sideName; })
        .sort(function (a, b) { return a.notional - b.notional; });
      var c = sideName === "buy" ? DOWN : UP;
      if (pts.length > 1) {
        svg.appendChild(svgEl("polyline", {fill: "none", stroke: c, "stroke-width": 1.5, "stroke-opacity": 0.6,
          points: pts.map(function (p) { return X(Math.log10(p.notional)) + "," + Y(p.impact_bps || 0); }).join(" ")}));
      }
      pts.forEach(function (p) {
        var dot = svgEl("circle", {cx: X(Math.log10(p.notional)), cy: Y(p.impact_bps || 0), r: 5,
                                   fill: p.filled ? c : "#ffffff", stroke: c, "stroke-width": 2});
        var title = svgEl("title", {});
        title.textContent = sideName + " " + compact(p.notional) + ": " + fmt(p.impact_bps, 2) +
          " bps, average price " + fmt(p.avg_price) + (p.filled ? "" : " (book ran out at " + compact(p.filled_notional) + ")");
        dot.appendChild(title);
        svg.appendChild(dot);
      });
    });
    box.appendChild(svg);
    var key = el("div", "slippage-key");
    [["buy", DOWN], ["sell", UP]].forEach(function (k) {
      var s = el("span", "legend-item");
      var sw = el("i", "swatch");
      sw.style.backgroundColor = k[1];
      s.appendChild(sw);
      s.appendChild(document.createTextNode(k[0]));
      key.appendChild(s);
    });
    key.appendChild(el("span", "legend-item", "hollow: the fetched book ran out"));
    box.appendChild(key);
  }

  // ---- a symmetric matrix as coloured cells ------------------------------------------------
  function heat(r) {
    if (r === null || r === undefined) { return "#f0f3f7"; }
    var a = Math.min(1, Math.abs(r));
    // white at 0, towards red for +1 and blue for -1
    var to = r >= 0 ? [196, 52, 40] : [31, 95, 191];
    var c = to.map(function (x) { return Math.round(255 + (x - 255) * a); });
    return "rgb(" + c.join(",") + ")";
  }
  function drawMatrix(LWC, box, report) {
    var readout = el("div", "ichart-legend");
    var wrap = el("div", "heat-scroll");
    box.appendChild(readout);
    box.appendChild(wrap);
    var scale = el("div", "heat-scale");
    scale.appendChild(el("span", "", "\u22121"));
    var bar = el("i", "heat-bar");
    scale.appendChild(bar);
    scale.appendChild(el("span", "", "+1"));
    box.appendChild(scale);
    var idle = "Hover a cell for the pair's value";
    function setData(report) {
      wrap.textContent = "";
      var symbols = report.rows.map(function (r) { return r.symbol; });
      var table = el("table", "heat");
      var head = el("tr");
      head.appendChild(el("th"));
      symbols.forEach(function (s) { var th = el("th", "col", s.replace(/USDT$/, "")); th.title = s; head.appendChild(th); });
      var thead = el("thead");
      thead.appendChild(head);
      table.appendChild(thead);
      var body = el("tbody");
      report.rows.forEach(function (row, i) {
        var tr = el("tr");
        var th = el("th", "row", row.symbol.replace(/USDT$/, ""));
        th.title = row.symbol;
        tr.appendChild(th);
        symbols.forEach(function (s, j) {
          var v = row[s];
          var td = el("td", "", v === null ? "\u2014" : v.toFixed(2));
          td.style.backgroundColor = heat(v);
          if (v !== null && Math.abs(v) > 0.6) { td.className = "dark"; }
          td.setAttribute("data-i", i);
          td.setAttribute("data-j", j);
          td.title = row.symbol + " \u00d7 " + s + ": " + (v === null ? "undefined" : v.toFixed(4));
          tr.appendChild(td);
        });
        body.appendChild(tr);
      });
      table.appendChild(body);
      table.addEventListener("mouseover", function (e) {
        var td = e.target.closest ? e.target.closest("td") : null;
        if (!td) { return; }
        var i = +td.getAttribute("data-i"), j = +td.getAttribute("data-j");
        var v = report.rows[i][symbols[j]];
        readout.textContent = "";
        readout.appendChild(el("span", "legend-title", symbols[i] + " \u00d7 " + symbols[j]));
        readout.appendChild(el("b", "", v === null ? "\u2014" : v.toFixed(4)));
        Array.prototype.forEach.call(table.querySelectorAll("td"), function (c) {
          c.classList.toggle("cross", +c.getAttribute("data-i") === i || +c.getAttribute("data-j") === j);
        });
      });
      table.addEventListener("mouseleave", function () {
        readout.textContent = idle;
        Array.prototype.forEach.call(table.querySelectorAll("td.cross"), function (c) { c.classList.remove("cross"); });
      });
      wrap.appendChild(table);
      readout.textContent = idle;
    }
    setData(report);
    return {update: function (next) { report = next; setData(next); return true; }};
  }

  // The attribution the library's licence asks for (vendor/VENDOR.md), in place of its logo.
  function credit() {
    var cap = el("figcaption", "chart-credit", "Interactive chart drawn with ");
    var a = el("a", "", "TradingView Lightweight Charts\u2122");
    a.href = "https://www.tradingview.com/";
    cap.appendChild(a);
    cap.appendChild(document.createTextNode(
      " \u2014 Copyright (c) 2026 TradingView, Inc. https://www.tradingview.com/ ("));
    var lic = el("a", "", "Apache-2.0");
    lic.href = STATIC + "/vendor/LICENSE.lightweight-charts";
    cap.appendChild(lic);
    cap.appendChild(document.createTextNode(")"));
    return cap;
  }

  var DRAWERS = {candles: drawCandles, bars: drawBars, depth: drawDepth, matrix: drawMatrix};
  var NEEDS_LWC = {candles: true, bars: true, depth: true};

  function has(report, names) {
    return names.every(function (n) { return report.columns.indexOf(n) >= 0; });
  }
  // Which chart the main table makes, from its columns (docs/api.md gives them).
  function kindOf(report) {
    if (!report || !report.columns || !report.rows) { return null; }
    var c = report.columns;
    if (c[0] === "open_time" && has(report, ["open", "high", "low", "close", "volume"])) { return "candles"; }
    if (has(report, ["symbol", "price_change_pct", "last_price"])) { return "bars"; }
    if (has(report, ["side", "price", "cum_notional"])) { return "depth"; }
    var names = report.rows.map(function (r) { return r[c[0]]; });
    if (c.length > 2 && names.join() === c.slice(1).join()) { return "matrix"; }
    return null;
  }

  // ---- fetching ----------------------------------------------------------------------------
  var state = {etag: null, failures: 0, timer: null, due: 0, waiting: false, report: null,
               drawn: null, note: ""};

  function maxAgeOf(response) {
    var m = /max-age=(\d+)/.exec(response.headers.get("Cache-Control") || "");
    return m ? +m[1] : 0;
  }
  function getJson() {
    var headers = {Accept: "application/json"};
    if (state.etag) { headers["If-None-Match"] = state.etag; }
    // no-store: the browser neither answers from its cache nor adds its own validators, so a
    // 304 reaches this code as a 304.
    return fetch(jsonUrl, {headers: headers, cache: "no-store", credentials: "same-origin"})
      .then(function (r) {
        var result = {status: r.status, maxAge: maxAgeOf(r),
                      retryAfter: +(r.headers.get("Retry-After") || 0)};
        if (r.status === 304) { return result; }
        if (!r.ok) {
          var err = new Error("HTTP " + r.status);
          err.retryAfter = result.retryAfter;
          throw err;
        }
        state.etag = r.headers.get("ETag");
        return r.json().then(function (doc) { result.report = doc; return result; });
      });
  }
  var cataloguePromise = null;
  function catalogue(report) {
    if (kindOf(report) !== "candles" || !(report.params && report.params.indicators)) {
      return Promise.resolve(null);
    }
    return fetchCatalogue();
  }
  function fetchCatalogue() {
    if (!cataloguePromise) {
      cataloguePromise = fetch(CATALOGUE_URL, {headers: {Accept: "application/json"}})
        .then(function (r) { return r.ok ? r.json() : null; })
        .catch(function () { return null; });
    }
    return cataloguePromise;
  }

  function draw(report) {
    var kind = kindOf(report);
    var drawer = figure && DRAWERS[kind];
    if (!drawer) { return Promise.resolve(null); }
    var box = figure.querySelector(".ichart");
    return Promise.all([NEEDS_LWC[kind] ? loadLwc() : null, catalogue(report)])
      .then(function (loaded) {
        box.hidden = false;
        box.textContent = "";
        var drawn = drawer(loaded[0], box, report, loaded[1]);
        figure.classList.add("drawn");
        if (NEEDS_LWC[kind] && !figure.querySelector(".chart-credit")) { figure.appendChild(credit()); }
        figure.setAttribute("data-drawn", analysis);
        // When, in ms from navigation start (bench/page.py reads it: time to first chart).
        if (!figure.hasAttribute("data-drawn-ms")) {
          figure.setAttribute("data-drawn-ms", String(Math.round(performance.now())));
        }
        return drawn;
      })
      .catch(function (e) {
        // The PNG stays: the page is as it would be without JavaScript.
        box.hidden = true;
        figure.classList.remove("drawn");
        console.warn("interactive chart not drawn:", e);
        return null;
      });
  }

  // ---- the page's other parts, from a fresh copy of the page ------------------------------
  function swapRegions() {
    return fetch(pageUrl, {headers: {Accept: "text/html"}, cache: "no-store", credentials: "same-origin"})
      .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.text(); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var selector = "[data-live], section.table-section[id]";
        Array.prototype.forEach.call(document.querySelectorAll(selector), function (old) {
          var key = old.getAttribute("data-live");
          var fresh = key ? doc.querySelector('[data-live="' + key + '"]') : doc.getElementById(old.id);
          if (!fresh) { return; }
          var scroller = old.querySelector(".table-scroll");
          var top = scroller ? scroller.scrollTop : 0, left = scroller ? scroller.scrollLeft : 0;
          var node = document.importNode(fresh, true);
          old.replaceWith(node);
          var again = node.querySelector(".table-scroll");
          if (again) { again.scrollTop = top; again.scrollLeft = left; }
        });
      });
  }

  // ---- the live line: the data's age, the next refresh, failures --------------------------
  function age(seconds) {
    if (seconds < 90) { return seconds + " s"; }
    if (seconds < 5400) { return Math.round(seconds / 60) + " min"; }
    return Math.round(seconds / 3600) + " h";
  }
  function paint() {
    var r = state.report || {};
    var asOf = Date.parse(r.data_as_of);
    var parts = [];
    if (isFinite(asOf)) { parts.push("Data " + age(Math.max(0, Math.round((Date.now() - asOf) / 1000))) + " old"); }
    if (r.stale) { parts.push("stale: Binance did not answer"); }
    if (state.note) { parts.push(state.note); }
    else if (state.waiting) { parts.push("paused while the tab is hidden"); }
    else if (state.due) { parts.push("next update in " + age(Math.max(0, Math.ceil((state.due - Date.now()) / 1000)))); }
    live.textContent = parts.join(" \u00b7 ");
    live.classList.toggle("live-stale", !!r.stale || !!state.note);
    live.hidden = false;
  }

  function schedule(delay) {
    clearTimeout(state.timer);
    state.due = Date.now() + delay * 1000;
    state.timer = setTimeout(tick, delay * 1000);
    paint();
  }
  function tick() {
    if (document.hidden) {
      state.waiting = true;   // resumed by visibilitychange
      state.due = 0;
      paint();
      return;
    }
    refresh();
  }
  // Back in view: check at once (a 304 when nothing changed) rather than show old data until
  // the next timer.
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden && state.report) {
      state.waiting = false;
      clearTimeout(state.timer);
      refresh();
    }
  });

  function nextDelay(result) {
    if (result.maxAge > 0) {
      state.idle = 0;
      return result.maxAge + 0.5;
    }
    // max-age 0: a stale copy, or one about to expire. Look again soon, then less and less
    // often while it stays so (Binance down: no point asking every second).
    state.idle = (state.idle || 0) + 1;
    return Math.min(60, Math.pow(2, state.idle - 1));
  }
  function refresh() {
    getJson().then(function (result) {
      state.failures = 0;
      state.note = "";
      live.setAttribute("data-checked", String(Date.now()));
      if (result.status === 304) {
        schedule(nextDelay(result));
        return null;
      }
      state.report = result.report;
      var step = state.drawn && state.drawn.update(result.report)
        ? Promise.resolve(state.drawn) : draw(result.report);
      return Promise.all([step, swapRegions()]).then(function (done) {
        state.drawn = done[0];
        live.setAttribute("data-updated", String(Date.now()));
        schedule(nextDelay(result));
      });
    }).catch(function (e) {
      state.failures += 1;
      var wait = Math.min(300, 5 * Math.pow(2, state.failures - 1));
      wait = Math.max(wait, (e && e.retryAfter) || 0);
      state.note = "update failed (" + (e && e.message || "network") + "), retrying in " + age(wait);
      schedule(wait);
    });
  }

  // ---- the indicators field: the catalogue as chips that add or remove an indicator -------
  // The field stays a plain text field (name[:param...], comma separated) that the form sends
  // as it is; the chips only edit its text.
  function picker() {
    var input = document.querySelector('form.controls input[name="indicators"]');
    if (!input) { return; }
    fetchCatalogue().then(function (cat) {
      if (!cat || !cat.rows) { return; }
      var details = el("details", "picker");
      details.appendChild(el("summary", "", "Pick indicators (" + cat.rows.length + ")"));
      details.appendChild(el("p", "picker-note",
        "Empty is the default set. Edit the parameters in the field, e.g. sma:200."));
      var chips = el("div", "chips");
      var buttons = [];
      function items() {
        return input.value.split(",").map(function (x) { return x.trim(); }).filter(Boolean);
      }
      function sync() {
        var names = items().map(function (x) { return x.split(":")[0].toLowerCase(); });
        buttons.forEach(function (b) {
          b.setAttribute("aria-pressed", names.indexOf(b.getAttribute("data-name")) >= 0 ? "true" : "false");
        });
      }
      cat.rows.forEach(function (r) {
        var b = el("button", "chip", r.name);
        b.type = "button";
        b.title = r.title + " \u2014 " + r.usage + " (" + r.family + ")";
        b.setAttribute("data-name", r.name);
        b.addEventListener("click", function () {
          var now = items();
          var kept = now.filter(function (x) { return x.split(":")[0].toLowerCase() !== r.name; });
          input.value = (kept.length < now.length ? kept : now.concat([r.defaults])).join(",");
          sync();
        });
        buttons.push(b);
        chips.appendChild(b);
      });
      details.appendChild(chips);
      var field = input.closest("label") || input;
      field.parentNode.insertBefore(details, field.nextSibling);
      input.addEventListener("input", sync);
      sync();
    });
  }

  function start() {
    getJson().then(function (result) {
      state.report = result.report;
      return draw(result.report).then(function (drawn) {
        state.drawn = drawn;
        schedule(nextDelay(result));
      });
    }).catch(function (e) {
      state.failures = 1;
      state.note = "could not load the data (" + (e && e.message || "network") + ")";
      schedule(5);
    });
    setInterval(paint, 1000);
  }

  start();
  picker();
})();
