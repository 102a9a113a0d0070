#include "report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"
#include "core/io.h"
#include "core/loss.h"

namespace metacat::cli {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"};

std::string esc(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '<')
      o += "&lt;";
    else if (c == '>')
      o += "&gt;";
    else if (c == '&')
      o += "&amp;";
    else if (c == '"')
      o += "&quot;";
    else
      o += c;
  }
  return o;
}

std::string num(double v, int digits = 4) {
  char b[64];
  std::snprintf(b, sizeof b, "%.*f", digits, v);
  return b;
}

std::string tick(double v) {
  char b[32];
  if (std::abs(v) >= 1000 || (std::abs(v) < 0.01 && v != 0))
    std::snprintf(b, sizeof b, "%.3g", v);
  else
    std::snprintf(b, sizeof b, "%.3g", v);
  return b;
}

struct Series {
  std::string name;
  std::vector<double> x, y, err;  // err: half-width of the 95% CI, may be empty
};

// A line chart with optional CI bands as error bars; x may be categorical
// when `xlabels` is given.
std::string line_chart(const std::string& title, const std::string& xlabel,
                       const std::string& ylabel, const std::vector<Series>& series) {
  const double W = 640, H = 300, L = 64, R = 150, T = 30, B = 44;
  double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
  for (const auto& s : series)
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (!std::isfinite(s.y[i])) continue;
      const double e = s.err.empty() ? 0 : s.err[i];
      x0 = std::min(x0, s.x[i]), x1 = std::max(x1, s.x[i]);
      y0 = std::min(y0, s.y[i] - e), y1 = std::max(y1, s.y[i] + e);
    }
  std::ostringstream o;
  o << "<figure><svg class=\"chart\" width=\"" << W << "\" height=\"" << H << "\" viewBox=\"0 0 "
    << W << " " << H << "\" xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" aria-label=\""
    << esc(title) << "\">";
  o << "<text x=\"" << L << "\" y=\"18\" class=\"title\">" << esc(title) << "</text>";
  if (!std::isfinite(x0)) {
    o << "<text x=\"" << L << "\" y=\"" << H / 2 << "\">no data</text></svg></figure>";
    return o.str();
  }
  if (x1 == x0) x0 -= 1, x1 += 1;
  if (y1 == y0) y0 -= 1, y1 += 1;
  const double pad = 0.05 * (y1 - y0);
  y0 -= pad, y1 += pad;
  auto X = [&](double x) { return L + (x - x0) / (x1 - x0) * (W - L - R); };
  auto Y = [&](double y) { return H - B - (y - y0) / (y1 - y0) * (H - T - B); };
  o << "<line x1=\"" << L << "\" y1=\"" << H - B << "\" x2=\"" << W - R << "\" y2=\"" << H - B
    << "\" class=\"axis\"/>";
  o << "<line x1=\"" << L << "\" y1=\"" << T << "\" x2=\"" << L << "\" y2=\"" << H - B
    << "\" class=\"axis\"/>";
  for (int k = 0; k <= 4; ++k) {
    const double yv = y0 + (y1 - y0) * k / 4, xv = x0 + (x1 - x0) * k / 4;
    o << "<text x=\"" << L - 6 << "\" y=\"" << Y(yv) + 4 << "\" class=\"tick\" text-anchor=\"end\">"
      << tick(yv) << "</text>";
    o << "<line x1=\"" << L << "\" y1=\"" << Y(yv) << "\" x2=\"" << W - R << "\" y2=\"" << Y(yv)
      << "\" class=\"grid\"/>";
    o << "<text x=\"" << X(xv) << "\" y=\"" << H - B + 16
      << "\" class=\"tick\" text-anchor=\"middle\">" << tick(xv) << "</text>";
  }
  o << "<text x=\"" << (L + W - R) / 2 << "\" y=\"" << H - 6
    << "\" class=\"label\" text-anchor=\"middle\">" << esc(xlabel) << "</text>";
  o << "<text x=\"14\" y=\"" << (T + H - B) / 2 << "\" class=\"label\" transform=\"rotate(-90 14 "
    << (T + H - B) / 2 << ")\" text-anchor=\"middle\">" << esc(ylabel) << "</text>";
  for (size_t si = 0; si < series.size(); ++si) {
    const auto& s = series[si];
    const char* col = kColors[si % 6];
    std::ostringstream pts;
    for (size_t i = 0; i < s.x.size(); ++i)
      if (std::isfinite(s.y[i])) pts << X(s.x[i]) << "," << Y(s.y[i]) << " ";
    o << "<polyline fill=\"none\" stroke=\"" << col << "\" stroke-width=\"2\" points=\""
      << pts.str() << "\"/>";
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (!std::isfinite(s.y[i])) continue;
      o << "<circle cx=\"" << X(s.x[i]) << "\" cy=\"" << Y(s.y[i]) << "\" r=\"2.5\" fill=\"" << col
        << "\"/>";
      if (!s.err.empty() && s.err[i] > 0)
        o << "<line x1=\"" << X(s.x[i]) << "\" y1=\"" << Y(s.y[i] - s.err[i]) << "\" x2=\""
          << X(s.x[i]) << "\" y2=\"" << Y(s.y[i] + s.err[i]) << "\" stroke=\"" << col << "\"/>";
    }
    o << "<rect x=\"" << W - R + 12 << "\" y=\"" << T + 16 * si
      << "\" width=\"10\" height=\"10\" fill=\"" << col << "\"/>";
    o << "<text x=\"" << W - R + 26 << "\" y=\"" << T + 9 + 16 * si << "\" class=\"tick\">"
      << esc(s.name) << "</text>";
  }
  o << "</svg></figure>";
  return o.str();
}

// Grouped bars (one group per shot setting, one bar per method) with CI whiskers.
std::string bar_chart(const std::string& title, const std::string& ylabel,
                      const std::vector<std::string>& groups, const std::vector<Series>& methods) {
  const double W = 640, H = 300, L = 64, R = 150, T = 30, B = 44;
  double y1 = 0;
  for (const auto& m : methods)
    for (size_t i = 0; i < m.y.size(); ++i)
      if (std::isfinite(m.y[i])) y1 = std::max(y1, m.y[i] + (m.err.empty() ? 0 : m.err[i]));
  if (y1 <= 0) y1 = 1;
  y1 *= 1.08;
  auto Y = [&](double y) { return H - B - y / y1 * (H - T - B); };
  std::ostringstream o;
  o << "<figure><svg class=\"chart\" width=\"" << W << "\" height=\"" << H << "\" viewBox=\"0 0 "
    << W << " " << H << "\" xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" aria-label=\""
    << esc(title) << "\">";
  o << "<text x=\"" << L << "\" y=\"18\" class=\"title\">" << esc(title) << "</text>";
  o << "<line x1=\"" << L << "\" y1=\"" << H - B << "\" x2=\"" << W - R << "\" y2=\"" << H - B
    << "\" class=\"axis\"/>";
  for (int k = 0; k <= 4; ++k) {
    const double yv = y1 * k / 4;
    o << "<text x=\"" << L - 6 << "\" y=\"" << Y(yv) + 4 << "\" class=\"tick\" text-anchor=\"end\">"
      << tick(yv) << "</text>";
    o << "<line x1=\"" << L << "\" y1=\"" << Y(yv) << "\" x2=\"" << W - R << "\" y2=\"" << Y(yv)
      << "\" class=\"grid\"/>";
  }
  o << "<text x=\"14\" y=\"" << (T + H - B) / 2 << "\" class=\"label\" transform=\"rotate(-90 14 "
    << (T + H - B) / 2 << ")\" text-anchor=\"middle\">" << esc(ylabel) << "</text>";
  const double gw = (W - L - R) / std::max<size_t>(1, groups.size());
  const double bw = gw * 0.8 / std::max<size_t>(1, methods.size());
  for (size_t g = 0; g < groups.size(); ++g) {
    o << "<text x=\"" << L + gw * (g + 0.5) << "\" y=\"" << H - B + 16
      << "\" class=\"tick\" text-anchor=\"middle\">" << esc(groups[g]) << "</text>";
    for (size_t m = 0; m < methods.size(); ++m) {
      const double v = methods[m].y[g];
      if (!std::isfinite(v)) continue;
      const double x = L + gw * g + gw * 0.1 + bw * m;
      o << "<rect class=\"bar\" x=\"" << x << "\" y=\"" << Y(v) << "\" width=\"" << bw * 0.9
        << "\" height=\"" << Y(0) - Y(v) << "\" fill=\"" << kColors[m % 6] << "\"><title>"
        << esc(methods[m].name) << " " << esc(groups[g]) << ": " << num(v) << "</title></rect>";
      const double e = methods[m].err.empty() ? 0 : methods[m].err[g];
      if (e > 0)
        o << "<line x1=\"" << x + bw * 0.45 << "\" y1=\"" << Y(v - e) << "\" x2=\"" << x + bw * 0.45
          << "\" y2=\"" << Y(v + e) << "\" stroke=\"#222\"/>";
    }
  }
  for (size_t m = 0; m < methods.size(); ++m) {
    o << "<rect x=\"" << W - R + 12 << "\" y=\"" << T + 16 * m
      << "\" width=\"10\" height=\"10\" fill=\"" << kColors[m % 6] << "\"/>";
    o << "<text x=\"" << W - R + 26 << "\" y=\"" << T + 9 + 16 * m << "\" class=\"tick\">"
      << esc(methods[m].name) << "</text>";
  }
  o << "</svg></figure>";
  return o.str();
}

// A number field, NaN when absent or null (undefined metrics are written as null).
double number(const json& j, const char* key) {
  return j.contains(key) && j[key].is_number() ? j[key].get<double>() : NAN;
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

std::string write_report(const std::string& run_dir, const std::string& out_arg,
                         const std::vector<std::string>& extra_evals) {
  const fs::path dir(run_dir);
  if (!fs::is_directory(dir)) throw UserError("report: '" + run_dir + "' is not a run directory");
  if (!fs::exists(dir / "metrics.jsonl"))
    throw UserError("report: '" + run_dir +
                    "' has no metrics.jsonl (is it a metacat run directory?)");
  // Training and validation records.
  std::vector<json> train, val;
  {
    std::ifstream in(dir / "metrics.jsonl");
    for (std::string line; std::getline(in, line);) {
      auto j = json::parse(line, nullptr, false);
      if (j.is_discarded()) continue;
      (j.contains("split") ? val : train).push_back(j);
    }
  }
  std::string metric = "accuracy";
  for (const char* m : {"accuracy", "auc", "mse"})
    if (!train.empty() && train[0].contains(m)) metric = m;
  const bool lower_better = !higher_is_better(metric);
  // Evaluation results: the run's eval.json, then any extra files.
  std::vector<json> results;
  std::vector<std::string> sources;
  std::vector<std::string> evals;
  if (fs::exists(dir / "eval.json")) evals.push_back((dir / "eval.json").string());
  evals.insert(evals.end(), extra_evals.begin(), extra_evals.end());
  for (const auto& e : evals) {
    auto j = json::parse(read_text(e), nullptr, false);
    if (j.is_discarded() || !j.contains("results"))
      throw UserError("report: '" + e + "' is not an eval JSON");
    for (const auto& r : j["results"]) results.push_back(r);
    sources.push_back(e);
  }

  std::ostringstream h;
  h << "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>metacat report: "
    << esc(dir.filename().string()) << "</title><style>"
    << "body{font:14px/1.4 sans-serif;margin:24px;color:#222;max-width:1000px}"
    << "h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}"
    << "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px "
       "8px;text-align:right}"
    << "th{background:#f3f3f3}td.l{text-align:left}pre{background:#f7f7f7;padding:8px;font-size:"
       "12px;max-height:320px;overflow:auto}"
    << ".axis{stroke:#444}.grid{stroke:#eee}.tick{font-size:11px;fill:#444}.label{font-size:12px;"
       "fill:#222}.title{font-size:13px;font-weight:bold}"
    << "figure{margin:8px 0}</style></head><body>";
  h << "<h1>metacat run " << esc(dir.filename().string()) << "</h1>";
  if (!train.empty()) {
    const auto& last = train.back();
    h << "<p>" << last.value("step", 0) << " meta-steps in " << num(last.value("time", 0.0), 1)
      << " s on " << last.value("ranks", 1) << " rank(s); last query " << metric << " "
      << num(number(last, metric.c_str()));
    if (last.contains("peak_rss_mb"))
      h << "; peak memory " << num(last["peak_rss_mb"].get<double>(), 0) << " MiB (all ranks)";
    h << ".</p>";
  }

  // Training curves.
  h << "<h2>Training</h2>";
  Series loss{"meta-loss", {}, {}, {}}, tm{"train query " + metric, {}, {}, {}},
      vm{"validation " + metric, {}, {}, {}}, tps{"tasks/s", {}, {}, {}};
  for (const auto& r : train) {
    const double s = r.value("step", 0);
    loss.x.push_back(s), loss.y.push_back(number(r, "meta_loss"));
    tm.x.push_back(s), tm.y.push_back(number(r, metric.c_str()));
    tps.x.push_back(s), tps.y.push_back(number(r, "tasks_per_s"));
  }
  for (const auto& r : val) {
    vm.x.push_back(r.value("step", 0));
    vm.y.push_back(r.contains("metrics") ? number(r["metrics"], metric.c_str()) : NAN);
    vm.err.push_back((std::isfinite(number(r, "ci95")) ? number(r, "ci95") : 0.0));
  }
  h << line_chart("Meta-loss", "meta-step", "meta-loss", {loss});
  std::vector<Series> metric_series{tm};
  if (!vm.x.empty()) metric_series.push_back(vm);
  h << line_chart("Query " + metric + " (train) and validation " + metric, "meta-step", metric,
                  metric_series);
  h << line_chart("Throughput", "meta-step", "tasks/s", {tps});

  // Final evaluation.
  h << "<h2>Evaluation on the cold-start categories</h2>";
  if (results.empty()) {
    h << "<p>No evaluation results (eval.json) in this run.</p>";
  } else {
    h << "<p>From " << esc([&] {
      std::string s;
      for (auto& x : sources) s += (s.empty() ? "" : ", ") + x;
      return s;
    }())
      << ": mean &plusmn; 95% confidence interval (1.96&sigma;/&radic;n) over the same fixed "
         "episodes.</p>";
    // Preference results also carry ranking metrics and catalogue coverage
    // (means over episodes; coverage over the whole evaluation).
    std::vector<std::string> extra;
    for (const char* k : {"ndcg@10", "recall@10", "coverage@10"})
      for (const auto& r : results)
        if (r.contains("metrics") && r["metrics"].contains(k)) {
          extra.push_back(k);
          break;
        }
    h << "<table class=\"results\"><tr><th>method</th><th>shots</th><th>metric</th><th>mean "
         "&plusmn; 95% CI</th><th>episodes</th>";
    for (const auto& k : extra) h << "<th>" << esc(k) << "</th>";
    h << "</tr>";
    // Warm and cold categories (eval.warm) are separate rows and series.
    auto label = [](const json& r) {
      const std::string m = r.value("method", "?"), g = r.value("categories", "");
      return g.empty() ? m : m + " (" + g + ")";
    };
    std::vector<std::string> methods;
    std::vector<int64_t> shots;
    for (const auto& r : results) {
      const std::string m = label(r);
      if (std::find(methods.begin(), methods.end(), m) == methods.end()) methods.push_back(m);
      const int64_t k = r.value("shots", 0);
      if (std::find(shots.begin(), shots.end(), k) == shots.end()) shots.push_back(k);
      h << "<tr><td class=\"l\">" << esc(m) << "</td><td>" << k << "</td><td class=\"l\">"
        << esc(r.value("metric", "")) << "</td><td>" << num(number(r, "mean")) << " &plusmn; "
        << num(number(r, "ci95")) << "</td><td>" << r.value("episodes", 0) << "</td>";
      for (const auto& k : extra)
        h << "<td>" << num(r.contains("metrics") ? number(r["metrics"], k.c_str()) : NAN)
          << "</td>";
      h << "</tr>";
    }
    h << "</table>";
    std::sort(shots.begin(), shots.end());
    std::vector<std::string> groups;
    for (int64_t k : shots) groups.push_back(std::to_string(k) + "-shot");
    std::vector<Series> bars, lines;
    for (const auto& m : methods) {
      Series s{m, {}, {}, {}};
      for (int64_t k : shots) {
        double v = NAN, e = 0;
        for (const auto& r : results)
          if (label(r) == m && r.value("shots", 0) == k)
            v = number(r, "mean"), e = (std::isfinite(number(r, "ci95")) ? number(r, "ci95") : 0.0);
        s.x.push_back(static_cast<double>(k));
        s.y.push_back(v);
        s.err.push_back(e);
      }
      bars.push_back(s);
      lines.push_back(s);
    }
    h << bar_chart("Test " + metric + " by method and shots (95% CI)", metric, groups, bars);
    h << line_chart("Test " + metric + " against the number of shots", "shots", metric, lines);

    // Per-category: the first method at its largest shot setting, on the
    // cold categories when warm ones are reported too.
    const json* best = nullptr;
    for (const auto& r : results)
      if (r.value("method", "") == results[0].value("method", "") &&
          r.value("categories", "") != "warm" &&
          (!best || r.value("shots", 0) > (*best).value("shots", 0)))
        best = &r;
    if (best && best->contains("per_category") && !(*best)["per_category"].empty()) {
      std::vector<std::pair<double, std::string>> cats;
      std::map<std::string, int64_t> items;
      for (const auto& [name, c] : (*best)["per_category"].items()) {
        cats.emplace_back(number(c, "score"), name);
        items[name] = c.value("items", 0);
      }
      std::sort(cats.begin(), cats.end());
      if (!lower_better) std::reverse(cats.begin(), cats.end());  // best first
      const size_t n = std::min<size_t>(5, cats.size());
      auto table = [&](const std::string& caption, size_t from, size_t to, bool reverse) {
        h << "<table class=\"categories\"><caption>" << caption
          << "</caption><tr><th>category</th><th>"
          << (lower_better ? "squared error" : "per-item accuracy")
          << "</th><th>query items</th></tr>";
        std::vector<size_t> idx;
        for (size_t i = from; i < to; ++i) idx.push_back(i);
        if (reverse) std::reverse(idx.begin(), idx.end());
        for (size_t i : idx)
          h << "<tr><td class=\"l\">" << esc(cats[i].second) << "</td><td>" << num(cats[i].first)
            << "</td><td>" << items[cats[i].second] << "</td></tr>";
        h << "</table>";
      };
      h << "<h2>Cold-start categories: " << esc(best->value("method", "")) << ", "
        << best->value("shots", 0) << "-shot</h2>";
      table("best " + std::to_string(n), 0, n, false);
      h << "<br>";
      table("worst " + std::to_string(n), cats.size() - n, cats.size(), true);
    }
  }
  h << "<h2>Resolved config</h2><pre>" << esc(read_text(dir / "config.yaml")) << "</pre>";
  // For automated checks in a headless browser: the charts' rendered sizes.
  h << "<div id=\"render-check\"></div><script>addEventListener('load',function(){"
       "var s=document.querySelectorAll('svg.chart'),n=0;for(var i=0;i<s.length;i++){var "
       "r=s[i].getBoundingClientRect();"
       "if(r.width>0&&r.height>0)n++;}document.getElementById('render-check').textContent='charts "
       "'+s.length+' rendered '+n;});"
       "</script></body></html>\n";
  const std::string out = out_arg.empty() ? (dir / "report.html").string() : out_arg;
  atomic_write_text(out, h.str());
  return out;
}

}  // namespace metacat::cli
