/* scorelens interactive report: the glue between the data block, Plotly's charts, the tables and the
   audio player. Every text from the data is set with textContent (never parsed as HTML); the charts'
   texts were escaped when the figures were built. */
(function () {
  "use strict";
  var DATA = JSON.parse(document.getElementById("scorelens-data").textContent);
  var GENRES = DATA.genres;
  var FILMS = {};
  DATA.films.forEach(function (f) { FILMS[f.id] = f; });
  var RUNS = {};
  DATA.runs.forEach(function (r) { RUNS[r.id] = r; });
  var PLOT_CONFIG = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["select2d", "lasso2d"] };

  function $(id) { return document.getElementById(id); }

  /* Plotly's bundle loads deferred, so that the tables show before its 5 MB are compiled. */
  var plotlyReady = new Promise(function (resolve, reject) {
    if (window.Plotly) { resolve(window.Plotly); return; }
    var tag = $("plotly-js");
    tag.addEventListener("load", function () { resolve(window.Plotly); });
    tag.addEventListener("error", function () { reject(new Error(tag.getAttribute("src") + " is missing")); });
  });
  function withPlotly(node, draw) {
    return plotlyReady.then(draw, function (err) {
      clear(node).append(el("p", { class: "why", text: "Charts unavailable: " + err.message + "." }));
    });
  }
  plotlyReady.then(function () { document.body.setAttribute("data-plotly-ms", String(Math.round(performance.now()))); },
                   function () {});

  function el(tag, props) {
    var node = document.createElement(tag);
    Object.keys(props || {}).forEach(function (k) {
      if (k === "class") node.className = props[k];
      else if (k === "text") node.textContent = props[k];
      else if (k.indexOf("data-") === 0 || k.indexOf("aria-") === 0) node.setAttribute(k, props[k]);
      else node[k] = props[k];
    });
    for (var i = 2; i < arguments.length; i++) {
      var c = arguments[i];
      if (c !== null && c !== undefined) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }

  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }
  function clock(s) {
    if (s === null || s === undefined) return "n/a";
    var t = Math.round(s), h = Math.floor(t / 3600), m = Math.floor((t % 3600) / 60), sec = t % 60;
    var mm = (h ? String(m).padStart(2, "0") : String(m).padStart(2, "0")) + ":" + String(sec).padStart(2, "0");
    return h ? h + ":" + mm : mm;
  }
  function clockMs(s) {
    if (s === null || s === undefined) return "n/a";
    var ms = Math.round(s * 1000), m = Math.floor(ms / 60000), rest = ms - m * 60000;
    return String(m).padStart(2, "0") + ":" + (rest / 1000).toFixed(3).padStart(6, "0");
  }
  function fixed(x, d) { return x === null || x === undefined ? "n/a" : Number(x).toFixed(d); }
  function percent(x) { return x === null || x === undefined ? "n/a" : Math.round(100 * x) + "%"; }
  function option(select, value, label) { select.append(el("option", { value: value, text: label })); }
  function why(id, message) {
    var node = $(id);
    node.hidden = !message;
    node.textContent = message || "";
  }

  /* A table whose columns sort on a click of their header (again: the other way). columns: {key, label,
     num, value(row) -> sortable value, cell(row, td) -> fills the cell}. */
  function SortableTable(table, columns, caption) {
    this.table = table; this.columns = columns; this.rows = []; this.sortKey = null; this.sortDir = 1;
    clear(table);
    if (caption) table.append(el("caption", { text: caption }));
    var head = el("tr"), self = this;
    columns.forEach(function (c) {
      var th = el("th", { text: c.label, class: (c.num ? "num " : "") + (c.value ? "sortable" : ""),
                          "data-key": c.key, scope: "col" });
      if (c.value) th.addEventListener("click", function () { self.sort(c.key); });
      head.append(th);
    });
    table.append(el("thead", {}, head));
    this.body = el("tbody");
    table.append(this.body);
  }
  SortableTable.prototype.setRows = function (rows) { this.rows = rows.slice(); this.render(); };
  SortableTable.prototype.sort = function (key) {
    this.sortDir = this.sortKey === key ? -this.sortDir : 1;
    this.sortKey = key;
    var self = this;
    this.table.querySelectorAll("th").forEach(function (th) {
      th.removeAttribute("aria-sort");
      if (th.getAttribute("data-key") === key) th.setAttribute("aria-sort", self.sortDir > 0 ? "ascending" : "descending");
    });
    this.render();
  };
  SortableTable.prototype.render = function () {
    var rows = this.rows, self = this;
    if (this.sortKey !== null) {
      var col = this.columns.filter(function (c) { return c.key === self.sortKey; })[0];
      rows = rows.map(function (r, i) { return [col.value(r), i, r]; });
      rows.sort(function (a, b) {
        var x = a[0], y = b[0];
        var xe = x === null || x === undefined || x !== x, ye = y === null || y === undefined || y !== y;
        if (xe || ye) return xe === ye ? a[1] - b[1] : (xe ? 1 : -1);  // no value: last either way
        if (typeof x === "string") { var c = x.localeCompare(y); return c ? self.sortDir * c : a[1] - b[1]; }
        return x === y ? a[1] - b[1] : self.sortDir * (x < y ? -1 : 1);
      });
      rows = rows.map(function (t) { return t[2]; });
    }
    var body = clear(this.body);
    rows.forEach(function (r) {
      var tr = el("tr");
      self.columns.forEach(function (c) {
        var td = el("td", { class: c.num ? "num" : "" });
        c.cell(r, td);
        tr.append(td);
      });
      if (self.onRow) self.onRow(r, tr);
      body.append(tr);
    });
  };

  /* ---------------------------------------------------------------- corpus */
  var corpus = null;
  function corpusRun() { return $("corpus-run").value || null; }

  function buildCorpus() {
    var films = DATA.films;
    var nCues = films.reduce(function (a, f) { return a + f.n_cues; }, 0);
    $("corpus-summary").textContent = films.length + " films, " + GENRES.length + " genres, " + nCues +
      " cues. Click a title for its timeline and clips.";
    GENRES.forEach(function (g) { option($("corpus-genre"), g, g); });
    var predRuns = DATA.runs.filter(function (r) { return DATA.predictions[r.id]; });
    predRuns.forEach(function (r) { option($("corpus-run"), r.id, r.label + (r.f1 === null ? "" : " (F1 " + fixed(r.f1, 2) + ")")); });
    if (DATA.default_run) $("corpus-run").value = DATA.default_run;
    $("corpus-run-label").hidden = !predRuns.length;
    why("corpus-why", predRuns.length ? "" : "No predictions: " + (DATA.why.models || "no evaluation results") + ".");
    var hasStamp = films.some(function (f) { return f.stamp; });
    var columns = [
      { key: "title", label: "Film", value: function (f) { return f.title.toLowerCase(); },
        cell: function (f, td) { td.append(el("a", { href: "#film/" + encodeURIComponent(f.id), text: f.title })); } },
      { key: "year", label: "Year", num: true, value: function (f) { return f.year; },
        cell: function (f, td) { td.textContent = f.year === null ? "" : f.year; } },
      { key: "genres", label: "Genres", value: function (f) { return f.genres.join(", ").toLowerCase(); },
        cell: function (f, td) { td.textContent = f.genres.join(", "); } },
      { key: "length", label: "Length", num: true, value: function (f) { return f.length_s; },
        cell: function (f, td) { td.textContent = clock(f.length_s); } },
      { key: "share", label: "Music", num: true, value: function (f) { return f.share; },
        cell: function (f, td) { td.textContent = percent(f.share); } },
      { key: "cues", label: "Cues", num: true, value: function (f) { return f.n_cues; },
        cell: function (f, td) { td.textContent = f.n_cues; } }
    ];
    if (hasStamp) {
      columns.push({ key: "stamp_p", label: "Stamper P", num: true, value: function (f) { return f.stamp ? f.stamp.precision : null; },
                     cell: function (f, td) { td.textContent = f.stamp ? fixed(f.stamp.precision, 2) : ""; } });
      columns.push({ key: "stamp_r", label: "Stamper R", num: true, value: function (f) { return f.stamp ? f.stamp.recall : null; },
                     cell: function (f, td) { td.textContent = f.stamp ? fixed(f.stamp.recall, 2) : ""; } });
    }
    if (predRuns.length) {
      GENRES.forEach(function (g, k) {
        columns.push({ key: "p:" + g, label: g, num: true,
          value: function (f) { var p = prediction(f.id); return p ? p.p[k] : null; },
          cell: function (f, td) {
            var p = prediction(f.id);
            if (!p || p.p[k] === null) return;
            td.textContent = fixed(p.p[k], 2) + (f.genres.indexOf(g) >= 0 ? " ✓" : "");
            if (p.y[k]) td.classList.add("pred");
          } });
      });
    }
    corpus = new SortableTable($("corpus-table"), columns);
    $("corpus-filter").addEventListener("input", filterCorpus);
    $("corpus-genre").addEventListener("change", filterCorpus);
    $("corpus-run").addEventListener("change", filterCorpus);
    filterCorpus();
  }

  function prediction(filmId) {
    var run = corpusRun();
    return run && DATA.predictions[run] ? DATA.predictions[run][filmId] || null : null;
  }

  function filterCorpus() {
    var words = $("corpus-filter").value.trim().toLowerCase().split(/\s+/).filter(Boolean);
    var genre = $("corpus-genre").value;
    var rows = DATA.films.filter(function (f) {
      if (genre && f.genres.indexOf(genre) < 0) return false;
      var hay = (f.title + " " + f.id + " " + f.genres.join(" ")).toLowerCase();
      return words.every(function (w) { return hay.indexOf(w) >= 0; });
    });
    corpus.setRows(rows);
    $("corpus-count").textContent = rows.length + " of " + DATA.films.length + " films";
  }

  /* ---------------------------------------------------------------- film */
  var film = { id: null, table: null, plotted: null, drawn: null };
  var weightRuns = DATA.runs.filter(function (r) { return DATA.weights[r.id]; });

  function buildFilmControls() {
    DATA.films.forEach(function (f) { option($("film-select"), f.id, f.title); });
    $("film-select").addEventListener("change", function () { location.hash = "#film/" + encodeURIComponent(this.value); });
    weightRuns.forEach(function (r) { option($("attention-run"), r.id, r.label); });
    GENRES.forEach(function (g, k) { option($("attention-genre"), String(k), g); });
    if (DATA.attention_run) $("attention-run").value = DATA.attention_run;
    $("attention-controls").hidden = !weightRuns.length;
    why("attention-why", weightRuns.length ? "" : "No attention per cue: " + (DATA.why.attention || "") + ".");
    $("attention-run").addEventListener("change", updateAttention);
    $("attention-genre").addEventListener("change", updateAttention);
  }

  function attentionWeights() {
    var run = $("attention-run").value, k = Number($("attention-genre").value);
    var mine = DATA.weights[run] ? DATA.weights[run][film.id] : null;
    return mine ? mine[k].map(function (v) { return v === null ? null : v / DATA.weight_scale; }) : null;
  }

  function showFilm(id) {
    var f = FILMS[id] || DATA.films[0];
    if (!f) return;
    var changed = film.id !== f.id;
    film.id = f.id;
    $("film-select").value = f.id;
    $("film-title").textContent = f.title;
    var facts = [f.year === null ? null : String(f.year), f.genres.join(", ") || "no genre",
                 "length " + clock(f.length_s), f.n_cues + " cues", "music " + percent(f.share) + " of the film"];
    $("film-facts").textContent = facts.filter(Boolean).join(" · ");
    var notes = clear($("film-notes"));
    f.notes.forEach(function (n) { notes.append(el("li", { text: n })); });
    if (DATA.film_genre[f.id] !== undefined) $("attention-genre").value = String(GENRES.indexOf(DATA.film_genre[f.id]));
    if (changed) stop();
    renderPredicted();
    renderCueTable();
    renderFilmPlot();
  }

  function renderPredicted() {
    var node = clear($("film-predicted"));
    var run = $("attention-run").value || DATA.default_run;
    var p = run && DATA.predictions[run] ? DATA.predictions[run][film.id] : null;
    if (!p) return;
    node.append(el("span", { class: "muted", text: "Predicted by " + RUNS[run].label + ": " }));
    var f = FILMS[film.id], any = false;
    GENRES.forEach(function (g, k) {
      if (!p.y[k] && f.genres.indexOf(g) < 0) return;
      any = true;
      var cls = p.y[k] && f.genres.indexOf(g) >= 0 ? "tag hit" : "tag miss";
      node.append(el("span", { class: cls, text: g + " " + fixed(p.p[k], 2) + (p.y[k] ? "" : " (missed)") }));
    });
    if (!any) node.append(el("span", { class: "muted", text: "no genre" }));
  }

  function renderCueTable() {
    var c = DATA.cues[film.id];
    var rows = [];
    if (c) for (var i = 0; i < c.cue_id.length; i++) rows.push(i);
    var w = attentionWeights();
    var columns = [
      { key: "sheet", label: "Cue", value: function (i) { return i; }, cell: function (i, td) { td.textContent = c.sheet[i]; } },
      { key: "track", label: "Track", value: function (i) { return c.track[i].toLowerCase(); }, cell: function (i, td) { td.textContent = c.track[i]; } },
      { key: "file", label: "File", value: function (i) { return c.file[i].toLowerCase(); }, cell: function (i, td) { td.textContent = c.file[i]; } },
      { key: "in", label: "In", num: true, value: function (i) { return c.start[i]; }, cell: function (i, td) { td.textContent = clock(c.start[i]); } },
      { key: "out", label: "Out", num: true, value: function (i) { return c.end[i]; }, cell: function (i, td) { td.textContent = clock(c.end[i]); } },
      { key: "dur", label: "Length", num: true, value: function (i) { return c.end[i] - c.start[i]; },
        cell: function (i, td) { td.textContent = clock(c.end[i] - c.start[i]); } },
      { key: "album", label: "Album", num: true, value: function (i) { return c.offset[i]; }, cell: function (i, td) { td.textContent = clockMs(c.offset[i]); } },
      { key: "speed", label: "Speed", num: true, value: function (i) { return c.speed[i]; }, cell: function (i, td) { td.textContent = fixed(c.speed[i], 4); } },
      { key: "votes", label: "Votes", num: true, value: function (i) { return c.votes[i]; }, cell: function (i, td) { td.textContent = c.votes[i] === null ? "" : c.votes[i]; } }
    ];
    if (w) columns.push({ key: "attention", label: "Attention", num: true, value: function (i) { return w[i]; },
                          cell: function (i, td) { td.className = "num attention"; td.textContent = w[i] === null ? "–" : fixed(w[i], 4); } });
    columns.push({ key: "clip", label: "Clip", cell: function (i, td) {
      if (c.clip[i]) {
        td.append(el("button", { class: "play", type: "button", text: "▶ " + fixed(c.clip_s[i], 1) + " s",
                                 onclick: function () { play(i); } }));
        if (c.note[i]) td.append(el("span", { class: "muted", text: " " + c.note[i] }));
      } else td.append(el("span", { class: "muted", text: c.note[i] || "no clip" }));
    } });
    film.table = new SortableTable($("cue-table"), columns);
    film.table.onRow = function (i, tr) { tr.setAttribute("data-cue", String(i)); };
    film.table.setRows(rows);
  }

  function renderFilmPlot() {
    var node = $("film-plot"), id = film.id, fig = DATA.film_figures[id];
    if (film.plotted === id) return;
    film.plotted = id;
    film.drawn = null;
    if (window.Plotly) Plotly.purge(node);
    clear(node);
    if (!fig) { node.append(el("p", { class: "muted", text: "No cues to draw." })); return; }
    withPlotly(node, function () {
      if (film.id !== id) return;
      var traces = JSON.parse(JSON.stringify(fig.data));
      var w = attentionWeights();
      traces.forEach(function (t) { if (t.meta === "attention" && w) t.y = w.slice(); });
      Plotly.newPlot(node, traces, fig.layout, PLOT_CONFIG).then(function () {
        if (film.id !== id) return;
        film.drawn = id;
        node.on("plotly_click", function (ev) {
          var pt = ev.points && ev.points[0];
          if (pt && pt.customdata) play(pt.customdata[0]);
        });
        updateAttention();
        document.body.setAttribute("data-film-drawn", id);
      });
    });
  }

  function updateAttention() {
    var node = $("film-plot"), fig = DATA.film_figures[film.id];
    var w = attentionWeights();
    var run = $("attention-run").value, genre = GENRES[Number($("attention-genre").value)];
    $("attention-note").textContent = RUNS[run] && RUNS[run].even
      ? "average pooling weighs every cue of a film alike" : "";
    if (fig && film.drawn === film.id) {
      var k = fig.data.findIndex(function (t) { return t.meta === "attention"; });
      if (k >= 0) {
        Plotly.restyle(node, { y: [w ? w.slice() : fig.data[k].y.map(function () { return null; })] }, [k]);
        Plotly.relayout(node, { "yaxis2.title.text": "attention · " + (genre || "").replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;") });
      }
    }
    renderPredicted();
    if (film.table) renderCueTable();
  }

  /* ---------------------------------------------------------------- playback */
  var player = $("player");
  function stop() { player.pause(); player.removeAttribute("src"); $("now-playing").textContent = "Click a cue to hear it."; }
  function play(i) {
    var c = DATA.cues[film.id];
    document.querySelectorAll("#cue-table tr.playing").forEach(function (tr) { tr.classList.remove("playing"); });
    var row = document.querySelector('#cue-table tr[data-cue="' + i + '"]');
    if (row) row.classList.add("playing");
    if (!c || !c.clip[i]) { $("now-playing").textContent = c ? c.sheet[i] + ": " + (c.note[i] || "no clip") : ""; return; }
    player.src = c.clip[i];
    $("now-playing").textContent = "Playing " + c.sheet[i] + " · " + c.track[i] + " (film " + clock(c.start[i]) + ", album " +
      clockMs(c.offset[i]) + ")";
    var done = player.play();
    if (done && done.catch) done.catch(function (err) { $("now-playing").textContent = "Cannot play this clip: " + err.message; });
  }

  /* ---------------------------------------------------------------- models */
  var modelsBuilt = false;
  function buildModels() {
    if (modelsBuilt) return;
    modelsBuilt = true;
    var M = DATA.models;
    why("models-why", DATA.why.models ? "No model results: " + DATA.why.models + "." : "");
    var holder = clear($("table4"));
    M.table4.forEach(function (t) {
      holder.append(el("h2", { text: "Genre prediction · " + t.level + "-level instances (Table 4)" }));
      var table = el("table", { class: "data table4" });
      holder.append(el("div", { class: "scroll" }, table));
      var best = Math.max.apply(null, t.rows.filter(function (r) { return ["random", "plurality"].indexOf(r.key) < 0; })
                                            .map(function (r) { return r.f1 === null ? -1 : r.f1; }));
      function score(k, i) { return { key: k, label: k.charAt(0).toUpperCase() + k.slice(1), num: true,
        value: function (r) { return r[k]; }, cell: function (r, td) { td.textContent = r.shown[i]; if (k === "f1" && r.f1 === best) td.classList.add("best"); } }; }
      function study(i, label) { return { key: "study" + i, label: label, num: true,
        value: function (r) { return r.study ? r.study[i] : null; },
        cell: function (r, td) { td.classList.add("study"); td.textContent = r.study ? fixed(r.study[i], 2).replace(/^0/, "") : ""; } }; }
      new SortableTable(table, [
        { key: "features", label: "Features", value: function (r) { return r.features.toLowerCase(); }, cell: function (r, td) { td.textContent = r.features; } },
        { key: "model", label: "Model", value: function (r) { return r.model.toLowerCase(); },
          cell: function (r, td) { td.textContent = r.model + (r.hidden ? " (" + r.hidden + " units)" : ""); } },
        score("precision", 0), score("recall", 1), score("f1", 2),
        { key: "p", label: "p (vs random)", num: true, value: null, cell: function (r, td) { td.textContent = r.p; } },
        { key: "study_model", label: "Study's model", value: function (r) { return r.study_model; },
          cell: function (r, td) { td.classList.add("study"); td.textContent = r.study_model || ""; } },
        study(0, "Study P"), study(1, "Study R"), study(2, "Study F1")
      ], t.caption + ". Macro averages over genres, out of fold. The study's columns: its published Table 4 " +
         "(110 films, leave-one-out, cue level; Simple MI and IMV with its best base classifier).").setRows(t.rows);
    });
    var drawn = [];
    drawn.push(plot("pr-plot", M.pr, "pr-heading"));
    drawn.push(plot("scatter-plot", M.scatter, "scatter-heading", function (node) {
      node.on("plotly_click", function (ev) {
        var pt = ev.points && ev.points[0];
        if (pt && pt.customdata) location.hash = "#film/" + encodeURIComponent(pt.customdata[0]);
      });
    }));
    $("scatter-note").hidden = !M.scatter;
    why("importance-why", M.importance.length ? "" : "Fig 3: " + (DATA.why.importance || "no results") + ".");
    M.importance.forEach(function (item) {
      var div = el("div", { class: "plot" });
      $("importance-plots").append(div);
      drawn.push(withPlotly(div, function () { return Plotly.newPlot(div, item.figure.data, item.figure.layout, PLOT_CONFIG); }));
    });
    why("table5-why", M.table5.length ? "" : "Table 5: " + (DATA.why.table5 || "no results") + ".");
    M.table5.forEach(function (fig) {
      var div = el("div", { class: "plot" });
      $("table5-plots").append(div);
      drawn.push(withPlotly(div, function () { return Plotly.newPlot(div, fig.data, fig.layout, PLOT_CONFIG); }));
    });
    Promise.all(drawn).then(function () { document.body.setAttribute("data-models-drawn", "1"); });
  }

  function plot(id, fig, heading, then) {
    var node = $(id);
    node.hidden = !fig;
    $(heading).hidden = !fig;
    if (!fig) return Promise.resolve();
    return withPlotly(node, function () {
      return Plotly.newPlot(node, fig.data, fig.layout, PLOT_CONFIG).then(function () { if (then) then(node); });
    });
  }

  /* ---------------------------------------------------------------- views */
  function route() {
    var hash = decodeURIComponent(location.hash.replace(/^#/, ""));
    var view = hash.split("/")[0];
    if (["corpus", "film", "models"].indexOf(view) < 0) view = "corpus";
    document.querySelectorAll(".view").forEach(function (v) { v.hidden = v.id !== "view-" + view; });
    document.querySelectorAll("nav a").forEach(function (a) { a.classList.toggle("active", a.getAttribute("data-view") === view); });
    if (view === "film") showFilm(hash.slice(5) || film.id || (DATA.films[0] && DATA.films[0].id));
    else stop();
    if (view === "models") buildModels();
    document.body.setAttribute("data-view", view);
  }

  buildCorpus();
  buildFilmControls();
  window.addEventListener("hashchange", route);
  route();
  document.body.setAttribute("data-ready-ms", String(Math.round(performance.now())));
  document.body.setAttribute("data-ready", "1");
})();
